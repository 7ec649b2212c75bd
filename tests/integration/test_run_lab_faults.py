"""Whose fault: the lab's failures are *broken* (exit 3), bad input is exit 2 with nothing run,
an rpm on a dpkg target is *skipped*, and Ctrl-C still leaves verdicts.json and no container."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from lab.engine import LABEL_RUN, client
from tests.conftest import ROOT
from tests.integration.packages import MANIFEST, service_table, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def inventory_with(tmp_path, extra: str):
    path = tmp_path / "targets.toml"
    path.write_text((ROOT / "targets.toml").read_text() + extra)
    return path


GHOST = """
[[targets]]
name = "ghost-x86_64"
backend = "docker"
facts = { os_family = "debian", os_id = "debian", os_version = "12", arch = "x86_64" }
docker = { image = "lab/never-built-image", debootstrap = { suite = "bookworm" } }
"""


def test_a_target_that_cannot_start_is_broken_not_failed(examples, lab_run, tmp_path):
    run = lab_run(examples / "acme-hello", "--targets", "debian12-x86_64,ghost-x86_64",
                  inventory=inventory_with(tmp_path, GHOST))
    assert run.proc.returncode == 3
    assert run.target("debian12-x86_64")["verdict"] == "passed"
    ghost = run.target("ghost-x86_64")
    assert ghost["verdict"] == "broken"
    assert "image lab/never-built-image is not built yet" in ghost["reason"]
    outcomes = {c["id"]: c["outcome"] for c in ghost["checks"]}
    assert outcomes["install.package"] == "broken" and set(outcomes.values()) <= {"broken", "skipped"}
    # what acme-hello never asked for (a database, a desktop, an upgrade) is not applicable, not broken:
    # only the checks a working target would have run are listed as the lab's failure
    messages = {c["id"]: c["message"] for c in ghost["checks"]}
    for check, why in [("database.schema", "ghost-x86_64 offers no database"), ("upgrade.apply", "no [upgrade]"),
                       ("desktop.launch", "declares no [desktop]"), ("package.abi", "no [upgrade]"),
                       ("security.outside_prefix", "only tarballs")]:
        assert outcomes[check] == "skipped" and why in messages[check], (check, messages[check])
    assert outcomes["package.elf_machine"] == outcomes["install.uninstall"] == "broken"


def test_a_registry_target_named_explicitly_is_broken_with_the_reason(examples, lab_run):
    run = lab_run(examples / "acme-hello", "--targets", "openeuler2203-x86_64")
    assert run.proc.returncode == 3
    assert "no registry" in run.target("openeuler2203-x86_64")["reason"]


def test_an_rpm_on_a_dpkg_target_is_skipped_with_the_reason(lab_run, tmp_path):
    sub = tmp_path / "rpm"
    sub.mkdir()
    (sub / "acme-1.0-1.x86_64.rpm").write_bytes(b"\xed\xab\xee\xdb not a real rpm")
    (sub / "submission.toml").write_text(MANIFEST.format(name="acme-rpm")
                                         + '[[artifacts]]\npath = "acme-1.0-1.x86_64.rpm"\n')
    run = lab_run(sub, "--targets", "debian12-x86_64")
    assert run.proc.returncode == 0
    t = run.target("debian12-x86_64")
    assert t["verdict"] == "skipped"
    assert "rpm installer: target uses apt, not rpm" in run.check("debian12-x86_64", "install.package")["message"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--targets", "nope"], "no target named 'nope'"),
    (["--suites", "bogus"], "no suite named 'bogus'"),
    (["-j", "0"], "Invalid value for '-j'"),
])
def test_bad_arguments_exit_2_and_run_nothing(examples, tmp_path, args, needle):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(examples / "acme-hello"), "--output", str(out),
                           *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and needle in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr and not out.exists()


def test_unknown_claimed_target_is_bad_input(tmp_path):
    sub = tmp_path / "claims"
    sub.mkdir()
    (sub / "a.deb").write_bytes(b"x")
    (sub / "submission.toml").write_text(MANIFEST.format(name="c") + '[[artifacts]]\npath = "a.deb"\n'
                                         '[claims]\ntargets = ["debian99-x86_64"]\n')
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(sub)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "claims.targets[0]: no target named 'debian99-x86_64'" in proc.stderr


def test_ctrl_c_writes_verdicts_and_removes_every_container(tmp_path, built):
    built("debian12-x86_64")
    built("debian13-x86_64")
    sub = tarball(tmp_path / "slow", "svc", "#!/bin/sh\nsleep 120\n", service=service_table("/bin/true"),
                  limits="[limits]\ninstall_timeout = 300\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", str(sub), "--output", str(out), "--no-report",
                             "--targets", "debian12-x86_64,debian13-x86_64"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal, even when the test session itself was started in the
                            # background (where SIGINT comes ignored, and a program keeps it so)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until both installers are running
        events = [out / f"logs/{t}/events.jsonl" for t in ("debian12-x86_64", "debian13-x86_64")]
        if all(e.exists() and "provisioned" in e.read_text() for e in events):
            break
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stdout + stderr
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["interrupted"] is True
    for t in verdicts["targets"].values():
        assert t["verdict"] == "broken"
    run_id = verdicts["run"]
    assert client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}) == []


TINY = """
[[targets]]
name = "tiny-x86_64"
backend = "docker"
facts = { os_family = "debian", os_id = "debian", os_version = "12", arch = "x86_64" }
docker = { image = "lab/debian12-x86_64", limits = { memory = "24m", pids = 16 } }
"""


def test_a_target_too_small_for_its_package_manager_is_broken_not_the_products_failure(examples, lab_run,
                                                                                        tmp_path):
    """A new engineer's 24 MiB target: the lab's downloader runs under the lab's limits (it used to
    be killed there, and the product was blamed); apt in the target itself, killed while it still
    read its lists, before any of the product's scripts, is the lab's configuration's fault."""
    run = lab_run(examples / "acme-calc", "--targets", "tiny-x86_64", inventory=inventory_with(tmp_path, TINY))
    tiny = run.target("tiny-x86_64")
    assert run.proc.returncode == 3, tiny["reason"]
    assert tiny["verdict"] == "broken"
    assert "killed for lack of memory before anything of the product ran" in tiny["reason"], tiny["reason"]
    assert "memory 24m, pids 16" in tiny["reason"] and "download" not in tiny["reason"]
