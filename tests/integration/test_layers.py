"""Prepared layers with real runs (lab.cache.layers): the first run of a product builds one while
its watch waits, the next starts from it, and nothing a vendor or buyer reads differs; a
dishonest product is caught the same way; ``lab gc`` removes a layer whose record is gone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from examples.make import build_deb
from lab.engine import client
from tests.conftest import ROOT
from tests.integration.conftest import run_lab
from tests.integration.packages import MANIFEST
from tests.integration.test_cache import _essence, cache_log

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"


def product(folder, name: str, port: int, postinst: str):
    """A memcached-based service (so its run has a watch and builds a layer) depending on sudo too,
    with the given postinst."""
    deb = build_deb({f"/usr/share/doc/{name}/README": b"a cache\n"},
                    {"Package": name, "Version": "1.0", "Architecture": "all", "Depends": "memcached, sudo"},
                    folder, scripts={"postinst": postinst})
    (folder / "submission.toml").write_text(
        MANIFEST.format(name=name) + f'[[artifacts]]\npath = "{deb.name}"\n'
        + f'[service]\ncommand = "memcached -u nobody -l 127.0.0.1 -p {port}"\nports = [{port}]\nready_timeout = 10\n')
    return folder


def trojan(folder):
    """Its postinst rewrites sudo (an OS dependency) in place."""
    return product(folder, "acme-cache", 11411, "#!/bin/sh\nprintf TROJAN | dd of=/usr/bin/sudo bs=1 seek=4096 "
                                                "conv=notrunc 2>/dev/null\nchmod 4755 /usr/bin/sudo\n")


def test_a_layer_is_built_used_and_judges_a_trojan_as_a_plain_install_does(tmp_path, built, quick_watch):
    built(T)
    sub = trojan(tmp_path / "sub")
    cache = tmp_path / "cache"
    env = {**os.environ, "LAB_CACHE": str(cache)}
    runs = {}
    for label in ("off", "cold", "layered"):
        runs[label] = run_lab(sub, tmp_path / label, "--targets", T, "--suites", "install,security,service,stability",
                              catalogue=f"sqlite:///{tmp_path / label}.db", inventory=quick_watch,
                              env={**env, "LAB_CACHE": "off"} if label == "off" else env)
    assert "prepared layer" in cache_log(runs["cold"].out) and "for the next run" in cache_log(runs["cold"].out), \
        cache_log(runs["cold"].out)
    log = cache_log(runs["layered"].out)
    assert "starting from the prepared layer" in log and "already in from the prepared layer" in log, log
    commands = (runs["layered"].out / "logs" / T / "commands.log").read_text()
    assert "--mark-auto install" not in commands  # the dependencies' own install did not run again
    for label, run in runs.items():
        setuid = run.check(T, "security.setuid")
        assert setuid["outcome"] == "failed", (label, setuid)
        assert "/usr/bin/sudo (of OS package sudo, there before the install; changed during it)" in \
            setuid["message"], (label, setuid["message"])
        assert run.check(T, "stability.uptime")["outcome"] == "passed", label
    assert _essence(runs["layered"].verdicts) == _essence(runs["off"].verdicts) == _essence(runs["cold"].verdicts)

    # lab gc: a layer whose record went (its cache entry emptied) goes too; another cache's stays
    record = next(cache.glob("*/layers/*.json"))
    image_id = json.loads(record.read_text())["image"]
    assert image_id in {i.id for i in client().images.list(filters={"label": "lab.layer"})}
    shutil.rmtree(cache)
    proc = subprocess.run([sys.executable, "-m", "lab", "gc"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "without a record" in proc.stdout, proc.stdout
    assert image_id not in {i.id for i in client().images.list(filters={"label": "lab.layer"})}


def test_an_untouched_copy_up_is_no_rewrite_and_an_edited_record_is_not_believed(tmp_path, built, quick_watch):
    """Opening an OS dependency's file for writing without writing (a review's ``: >> sudo``)
    passes in a layered run as in a plain one; a layer record pointing elsewhere is not used."""
    built(T)
    sub = product(tmp_path / "sub", "acme-noop", 11412, "#!/bin/sh\n: >> /usr/bin/sudo\n"
                  ": >> \"$(readlink -f /usr/lib/x86_64-linux-gnu/libevent-2.1.so.7)\"\n")
    cache = tmp_path / "cache"
    env = {**os.environ, "LAB_CACHE": str(cache)}

    def run(label):
        return run_lab(sub, tmp_path / label, "--targets", T, "--suites", "install,security,service,stability",
                       catalogue=f"sqlite:///{tmp_path / label}.db", inventory=quick_watch, env=env)

    for label in ("cold", "layered"):
        result = run(label)
        for check in ("install.package", "security.setuid", "security.system_files", "install.leftovers"):
            assert result.check(T, check)["outcome"] == "passed", (label, result.check(T, check))
    assert "already in from the prepared layer" in cache_log(tmp_path / "layered")
    record = next(cache.glob("*/layers/*.json"))
    base = client().images.get("lab/debian12-x86_64").id
    record.write_text(json.dumps({"image": base, "size": 1}))  # the image the layer was made from, say
    result = run("edited")
    assert "starting from the prepared layer" not in cache_log(tmp_path / "edited"), cache_log(tmp_path / "edited")
    assert "--mark-auto install" in (tmp_path / "edited" / "logs" / T / "commands.log").read_text()
    assert result.target(T)["verdict"] == "passed", result.target(T)
