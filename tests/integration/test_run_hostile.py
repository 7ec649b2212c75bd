"""A dishonest vendor against a real run (issue 16): planted backdoors, markup in its strings,
limits beyond the lab's, a disk filled. Each gets the product's verdict, never a certificate."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from examples.make import build_deb
from tests.conftest import ROOT
from tests.integration.packages import MANIFEST, backdoor_deb, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"


def test_a_planted_setuid_shell_removed_by_postrm_still_fails(tmp_path, lab_run):
    run = lab_run(backdoor_deb(tmp_path / "sub"), "--targets", T, "--suites", "install,security")
    assert run.proc.returncode == 1, run.proc.stdout
    check = lambda cid: run.check(T, cid)  # noqa: E731
    assert check("install.package")["outcome"] == "passed"
    setuid = check("security.setuid")
    assert setuid["outcome"] == "failed"
    assert "/usr/local/bin/.sh (created by a script during the install) mode 4755" in setuid["message"]
    ww = check("security.world_writable")
    assert ww["outcome"] == "failed" and "/etc/acme-open" in ww["message"]
    system = check("security.system_files")
    assert system["outcome"] == "failed"
    assert "/etc/cron.d/acme-sync (created by a script" in system["message"]
    assert "account toor: a new account with uid 0" in system["message"]
    daemons = check("security.daemons")
    assert daemons["outcome"] == "failed" and "sleep 3000" in daemons["message"]
    left = check("install.leftovers")
    assert left["outcome"] == "failed"
    for path in ("/var/lib/dpkg/backdoor", "/var/tmp/acme-cache", "/etc/cron.d/acme-sync"):
        assert path in left["message"]
    assert "sleep 3000" in left["message"]  # the daemon outlived the purge
    assert not (run.out / "certificates").exists() or not list((run.out / "certificates").iterdir())


def test_files_hidden_in_the_labs_own_folders_still_count(tmp_path, lab_run):
    """A postinst hiding a setuid shell in the service's home, data in a database server's folder
    (on a target that runs none) and in a look-alike of the lab's transfer spool."""
    postinst = """#!/bin/sh
mkdir -p /var/tmp/lab-service /var/lib/mysql /tmp/.lab-xfer-acme
cp /bin/sh /var/tmp/lab-service/.sh && chmod 4755 /var/tmp/lab-service/.sh
echo planted > /var/lib/mysql/acme.dat
echo planted > /tmp/.lab-xfer-acme/data
exit 0
"""
    sub = tmp_path / "sub"
    deb = build_deb({"/usr/share/acme-hide/README": b"nothing to see\n"},
                    {"Package": "acme-hide", "Version": "1.0", "Architecture": "all"}, sub,
                    scripts={"postinst": postinst})
    (sub / "submission.toml").write_text(MANIFEST.format(name="acme-hide") + f'[[artifacts]]\npath = "{deb.name}"\n')
    run = lab_run(sub, "--targets", T, "--suites", "install,security")
    assert run.proc.returncode == 1, run.proc.stdout
    assert run.check(T, "install.package")["outcome"] == "passed"
    setuid = run.check(T, "security.setuid")
    assert setuid["outcome"] == "failed"
    assert "/var/tmp/lab-service/.sh (created by a script during the install) mode 4755" in setuid["message"]
    left = run.check(T, "install.leftovers")
    assert left["outcome"] == "failed"
    assert "/var/lib/mysql (created by a script during the install)" in left["message"]
    assert "/tmp/.lab-xfer-acme (created by a script during the install)" in left["message"]


@pytest.mark.parametrize("folder", ["/usr/local/bin", "/usr/sbin"])
def test_a_package_shadowing_a_system_tool_fails_and_does_not_fool_the_lab(tmp_path, lab_run, folder):
    """Review: a package's /usr/local/bin/ss answered the lab's own `ss`, and later its /usr/sbin/ss
    (the lab's PATH listed sbin first): this one says the declared port listens when nothing does.
    The lab's commands use the system's tools, bin first; the shadow is named."""
    sub = tmp_path / "sub"
    fake = b"#!/bin/sh\nprintf 'LISTEN 0 128 127.0.0.1:7071 0.0.0.0:*\\n'\n"
    deb = build_deb({f"{folder}/ss": fake},
                    {"Package": "acme-ss", "Version": "1.0", "Architecture": "all"}, sub)
    (sub / "submission.toml").write_text(
        MANIFEST.format(name="acme-ss") + f'[[artifacts]]\npath = "{deb.name}"\n'
        '[service]\ncommand = "sleep 300 & exec sleep 301"\nports = [7071]\nready_timeout = 3\n')
    run = lab_run(sub, "--targets", T, "--suites", "install,security,service")
    system = run.check(T, "security.system_files")
    assert system["outcome"] == "failed", system["message"]
    assert (f"{folder}/ss: put there by the product's package acme-ss, it shadows the system's /usr/bin/ss"
            in system["message"]), system["message"]
    ready = run.check(T, "service.ready")  # the real ss: port 7071 never opened, whatever the fake says
    assert ready["outcome"] == "failed" and "port 7071 never opened within 3 s" in ready["message"], ready["message"]


@pytest.mark.parametrize("fill", ["> /var/tmp/fill", ">> /etc/hosts"])
def test_an_install_that_fills_the_disk_quota_is_stopped_and_failed(tmp_path, lab_run, fill):
    """/etc/hosts is Docker's file on the lab's disk, outside the writable layer: a review filled it
    past the quota unseen."""
    inventory = tmp_path / "targets.toml"
    inventory.write_text((ROOT / "targets.toml").read_text().replace(
        "limits = { install_timeout = 300, command_timeout = 120 }",
        'limits = { install_timeout = 300, command_timeout = 120, disk_quota = "64m" }'))
    sub = tarball(tmp_path / "sub", "filler", f"#!/bin/sh\nhead -c 2000000000 /dev/zero {fill}\n")
    run = lab_run(sub, "--targets", T, "--suites", "install", inventory=inventory)
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    install = run.check(T, "install.package")
    assert install["outcome"] == "failed"
    assert "above its disk quota of 64.0 MiB ([lab.limits] disk_quota)" in install["message"]
    assert install["duration_s"] < 120


def test_markup_in_vendor_strings_is_printed_literally_and_the_run_is_recorded(tmp_path, lab_run):
    sub = tarball(tmp_path / "sub", "markup", "#!/bin/sh\nexit 0\n")
    manifest = sub / "submission.toml"
    manifest.write_text(manifest.read_text().replace('version = "1.0"', 'version = "1[/bogus]"')
                        .replace('vendor = "Test Vendor"', 'vendor = "[/hide]Evil [bold]Corp"'))
    validate = subprocess.run([sys.executable, "-m", "lab", "validate", str(sub)], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stderr
    assert "markup 1[/bogus] by [/hide]Evil [bold]Corp" in validate.stdout
    run = lab_run(sub, "--targets", T, "--suites", "install")
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert "markup 1[/bogus] on debian12-x86_64" in run.proc.stdout
    assert run.verdicts["submission"]["version"] == "1[/bogus]"
    db = sqlite3.connect(run.out.parent / "catalogue.db")
    assert db.execute("select version from product_versions").fetchall() == [("1[/bogus]",)]
