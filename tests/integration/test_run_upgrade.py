"""Suite `upgrade` on real .debs built here: an earlier release installed, its data written, an
administrator's change made, then the submitted release installed over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.make import build_deb, compile_c

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATA = "/var/lib/acme-keep"
CONF = "/etc/acme-keep/acme.conf"

START = f"""#!/bin/sh
mkdir -p {DATA}
[ -f {DATA}/records.db ] || echo "record 1: written by acme-keep $VERSION" > {DATA}/records.db
exec /usr/bin/acme-web --port 8080
"""
REFUSE = """#!/bin/sh
echo "acme-keepd: /etc/acme-keep/acme.conf: 'workers' is required since 1.1" >&2
exit 1
"""
POSTRM = f"#!/bin/sh\n[ \"$1\" = purge ] && rm -rf {DATA} /etc/acme-keep\nexit 0\n"
VENDOR_TEST = f'''import os

import pytest


@pytest.mark.before_upgrade
def test_writes_a_record(host):
    assert host.run("echo 'record 2: from the vendor test' >> {DATA}/records.db").rc == 0


def test_the_records_survive_the_upgrade(host):
    if os.environ.get("LAB_UPGRADE") != "after":
        pytest.skip("judged after an upgrade")
    assert "record 2" in host.run("cat {DATA}/records.db").stdout
'''


def keep_deb(folder: Path, version: str, start: str, postinst: str = "", conf: bytes = b"port = 8080\n") -> Path:
    web = compile_c(EXAMPLES / "acme-web/src/acme-web.c", folder / "build/acme-web")
    return build_deb({"/usr/bin/acme-web": web, "/usr/bin/acme-keepd": start.replace("$VERSION", version).encode(),
                      CONF: conf, "/usr/share/acme-keep/acme.conf.default": conf},
                     {"Package": "acme-keep", "Version": version, "Architecture": "amd64"}, folder,
                     scripts={"conffiles": f"{CONF}\n", "postinst": f"#!/bin/sh\n{postinst}exit 0\n",
                              "postrm": POSTRM})


def submission(folder: Path, new: Path, old: Path, tests: bool) -> Path:
    (folder / "previous").mkdir(parents=True, exist_ok=True)
    old = old.rename(folder / "previous" / old.name)
    manifest = (f'schema = 1\n[product]\nname = "acme-keep"\nversion = "1.1"\nvendor = "Test Vendor"\n'
                f'[[artifacts]]\npath = "{new.name}"\n'
                f'[service]\ncommand = "/usr/bin/acme-keepd"\nports = [8080]\nready_timeout = 10\n'
                f'health = "/usr/bin/acme-web --check --port 8080"\n'
                f'[upgrade]\nfrom = [{{ path = "previous/{old.name}" }}]\nkeep = ["{DATA}"]\n')
    if tests:
        (folder / "tests").mkdir()
        (folder / "tests/test_keep.py").write_text(VENDOR_TEST)
        manifest += '[tests]\npaths = ["tests"]\n'
    (folder / "submission.toml").write_text(manifest)
    return folder


def test_an_upgrade_that_keeps_data_and_settings_passes(tmp_path, lab_run, quick_watch):
    sub = tmp_path / "sub"
    old = keep_deb(tmp_path / "old", "1.0", START)
    new = keep_deb(sub, "1.1", START, conf=b"port = 8080\nworkers = 4\n")  # a changed conffile: dpkg must choose
    run = lab_run(submission(sub, new, old, tests=True), "--targets", T, inventory=quick_watch)
    outcomes = {c["id"]: (c["outcome"], c["message"]) for c in run.target(T)["checks"]}
    for cid in ("upgrade.previous", "upgrade.apply", "upgrade.data", "upgrade.config", "upgrade.service",
                "upgrade.vendor_tests"):
        assert outcomes[cid][0] == "passed", (cid, outcomes[cid][1])
    assert "1 vendor test(s) marked before_upgrade passed" in outcomes["upgrade.previous"][1]
    assert "acme-keep 1.1" in outcomes["upgrade.apply"][1]
    assert "all 1 file(s) under /var/lib/acme-keep unchanged" in outcomes["upgrade.data"][1]
    assert f"{CONF} keeps the administrator's change" in outcomes["upgrade.config"][1]
    assert f"{CONF}.dpkg-dist" in outcomes["upgrade.config"][1]
    assert run.proc.returncode == 0, run.target(T)["reason"]


def test_an_upgrade_that_wipes_data_overwrites_settings_and_cannot_start_fails_each_by_name(tmp_path, lab_run):
    sub = tmp_path / "sub"
    old = keep_deb(tmp_path / "old", "1.0", START)
    wipe = f"rm -rf {DATA}\ncp /usr/share/acme-keep/acme.conf.default {CONF}\n"
    new = keep_deb(sub, "1.1", REFUSE, postinst=wipe)
    run = lab_run(submission(sub, new, old, tests=False), "--targets", T)
    assert run.proc.returncode == 1
    check = lambda cid: run.check(T, cid)  # noqa: E731
    assert check("upgrade.previous")["outcome"] == "passed", check("upgrade.previous")["message"]
    assert check("upgrade.apply")["outcome"] == "passed", check("upgrade.apply")["message"]
    data = check("upgrade.data")
    assert data["outcome"] == "failed"
    assert f"{DATA} no longer exist(s)" in data["message"] and f"{DATA}/records.db" in data["message"]
    config = check("upgrade.config")
    assert config["outcome"] == "failed" and f"{CONF}: the administrator's change was overwritten" in config["message"]
    service = check("upgrade.service")
    assert service["outcome"] == "failed" and "not ready after the upgrade" in service["message"]
    assert "'workers' is required since 1.1" in service["message"]  # the service's own last words
    assert check("upgrade.vendor_tests")["outcome"] == "skipped"


def test_keep_naming_only_the_systems_files_proves_nothing_and_fails(tmp_path, lab_run, quick_watch):
    """Review: ``keep = ["/usr/share/zoneinfo"]`` passed upgrade.data on files no upgrade of the
    product touches; only what the earlier release and its service wrote counts."""
    sub = tmp_path / "sub"
    old = keep_deb(tmp_path / "old", "1.0", START)
    new = keep_deb(sub, "1.1", START, conf=b"port = 8080\nworkers = 4\n")
    folder = submission(sub, new, old, tests=False)
    manifest = folder / "submission.toml"
    manifest.write_text(manifest.read_text().replace(f'keep = ["{DATA}"]', 'keep = ["/usr/share/doc/dpkg"]'))
    run = lab_run(folder, "--targets", T, "--suites", "install,upgrade", inventory=quick_watch)
    data = run.check(T, "upgrade.data")
    assert data["outcome"] == "failed", data["message"]
    assert "no file under /usr/share/doc/dpkg before the upgrade was the product's" in data["message"]
    assert "file(s) there were the system's before the product was installed" in data["message"]
    assert run.check(T, "upgrade.apply")["outcome"] == "passed"
