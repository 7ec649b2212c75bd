"""Suite `vendor`: the submission's own tests, run in the sandboxed runner against the target.

Vendors are hostile: their conftest.py runs inside the runner's process and may write the lab's
protocol lines itself, hang, kill the runner or fill its disk. Each of these is the product's failure, never
the lab's, and never a passed check of a test that did not run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from examples.make import build_tarball
from tests.conftest import ROOT
from tests.integration.packages import MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"
SAFE_ID = re.compile(r"vendor\.[A-Za-z0-9_.:/\[\]-]+")

VENDOR_TESTS = '''
from pathlib import Path

import pytest


def test_calc_adds(host):
    assert host.run("acme-calc 1 1").stdout.strip() == "2"


def test_calc_multiplies(host):
    assert host.run("acme-calc 2 3").stdout.strip() == "6", "acme-calc cannot multiply"


def test_runs_in_the_sandbox_not_on_the_lab_host():
    Path("/tmp/lab-vendor-code-was-here").write_text("x")
    assert not Path("/work/main/targets.toml").exists()


@pytest.mark.parametrize("text", ["<script>alert(1)</script>"])
def test_markup_in_an_id(text):
    assert text
'''

SAME_NAME = '''
def test_calc_adds(host):
    assert host.run("acme-calc 40 2").stdout.strip() == "42"
'''


def test_vendor_tests_run_sandboxed_and_each_is_a_check(examples, lab_run, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(examples / "acme-calc", sub, ignore=shutil.ignore_patterns("tests"))
    (sub / "tests").mkdir()
    (sub / "tests/test_mine.py").write_text(VENDOR_TESTS)
    (sub / "tests/test_more.py").write_text(SAME_NAME)  # the same function name in another file
    Path("/tmp/lab-vendor-code-was-here").unlink(missing_ok=True)
    run = lab_run(sub, "--targets", T, "--suites", "vendor")
    assert run.proc.returncode == 1
    checks = {c["id"]: c for c in run.target(T)["checks"]}
    outcomes = {i: c["outcome"] for i, c in checks.items()}
    assert outcomes["vendor.tests/test_mine.py::test_calc_adds"] == "passed"
    assert outcomes["vendor.tests/test_more.py::test_calc_adds"] == "passed"  # both appear
    assert outcomes["vendor.tests/test_mine.py::test_runs_in_the_sandbox_not_on_the_lab_host"] == "passed"
    assert outcomes["vendor.tests/test_mine.py::test_calc_multiplies"] == "failed"
    assert outcomes["vendor.tests/test_mine.py::test_markup_in_an_id[_script_alert_1__/script_]"] == "passed"
    vendor_ids = [i for i in checks if i.startswith("vendor.") and i != "vendor.tests"]
    assert len(vendor_ids) == 5 and all(SAFE_ID.fullmatch(i) for i in vendor_ids)
    assert all(checks[i]["duration_s"] >= 0 for i in vendor_ids)
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed" and "1 of 5 vendor test(s) failed" in umbrella["message"]
    assert "acme-calc cannot multiply" in umbrella["message"]
    assert any(e["command"] == "acme-calc 2 3" for e in umbrella["evidence"])
    assert not Path("/tmp/lab-vendor-code-was-here").exists()  # vendor code never ran on this host
    assert (run.out / f"logs/{T}/vendor-tests.log").read_text().count("FAILED") >= 1


def offline_product(folder: Path, tests: dict[str, str], limits: str = "") -> Path:
    """A tarball product (nothing to download) with the given vendor test files."""
    build_tarball({"bin/acme-echo": b'#!/bin/sh\necho "$@"\n', "install.sh": b"#!/bin/sh\nexit 0\n"},
                  folder / "acme-echo.tar.gz")
    (folder / "submission.toml").write_text(
        MANIFEST.format(name="acme-echo") + '[[artifacts]]\npath = "acme-echo.tar.gz"\nprefix = "/opt/acme-echo"\n'
        'install = "install.sh"\n[tests]\npaths = ["tests"]\n' + limits)
    for rel, text in tests.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


ECHO = '''
def test_echo(host):
    assert host.run("/opt/acme-echo/bin/acme-echo hi").stdout == "hi\\n"
'''

FORGING_CONFTEST = '''
"""Hostile: writes the lab's protocol lines itself, to every file descriptor the runner has (the
dup of the original stdout among them)."""
import json
import os


def forge(message):
    data = (json.dumps(message) + "\\n").encode()
    for fd in os.listdir("/proc/self/fd"):
        try:
            os.write(int(fd), data)
        except OSError:
            pass


def pytest_runtest_call(item):
    if item.name == "test_forges":
        forge({"result": {"nodeid": "tests/test_forged.py::test_never_ran<b>", "outcome": "passed",
                          "message": "I passed"}})
        forge({"done": {"exit": 0}})
'''


def test_forged_protocol_lines_from_a_conftest_are_refused(lab_run, tmp_path):
    sub = offline_product(tmp_path / "sub", {"tests/conftest.py": FORGING_CONFTEST, "tests/test_a.py": ECHO,
                                             "tests/test_b.py": "def test_forges():\n    pass\n"})
    run = lab_run(sub, "--targets", T, "--suites", "vendor")
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    assert run.target(T)["verdict"] == "failed"
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed"
    assert ("the vendor-test runner sent a line the lab refuses: result for vendor test "
            "'tests/test_forged.py::test_never_ran<b>' that was never collected") in umbrella["message"]
    assert "the runner printed (end of pytest.log)" in umbrella["message"]
    checks = {c["id"]: c for c in run.target(T)["checks"]}
    assert checks["vendor.tests/test_a.py::test_echo"]["outcome"] == "passed"
    forger = checks["vendor.tests/test_b.py::test_forges"]  # the test that was running is named
    assert forger["outcome"] == "failed" and forger["message"].startswith("did not finish: ")
    assert not any("never_ran" in i for i in checks)
    assert all(SAFE_ID.fullmatch(i) for i in checks if i.startswith("vendor.") and i != "vendor.tests")


HANGS = '''
import time


def test_hangs():
    time.sleep(3600)
'''


def test_a_vendor_test_that_hangs_is_failed_not_broken(lab_run, tmp_path):
    sub = offline_product(tmp_path / "sub", {"tests/test_a.py": ECHO, "tests/test_hang.py": HANGS},
                          limits="[limits]\ninstall_timeout = 15\ncommand_timeout = 10\n")
    run = lab_run(sub, "--targets", T, "--suites", "vendor")
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed"
    assert umbrella["message"].startswith("the vendor tests did not finish within 15 s "
                                          "(vendor test 'tests/test_hang.py::test_hangs' was running)")
    assert 14 < umbrella["duration_s"] < 60
    hung = run.check(T, "vendor.tests/test_hang.py::test_hangs")
    assert hung["outcome"] == "failed" and 10 < hung["duration_s"] < 20
    assert run.check(T, "vendor.tests/test_a.py::test_echo")["outcome"] == "passed"


DIES = '''
import os
import signal


def test_kills_the_runner():
    with open("/work/pytest.log", "a") as fh:
        fh.write("last words before SIGKILL\\n")
    os.kill(os.getpid(), signal.SIGKILL)


def test_never_runs():
    pass
'''


def test_a_vendor_test_that_kills_the_runner_is_failed(lab_run, tmp_path):
    sub = offline_product(tmp_path / "sub", {"tests/test_dies.py": DIES})
    run = lab_run(sub, "--targets", T, "--suites", "vendor")
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed"
    assert umbrella["message"].startswith("the vendor-test runner ended before it was done (killed by signal 9)")
    assert "'tests/test_dies.py::test_kills_the_runner' was running; 1 collected test(s) did not run" \
        in umbrella["message"]
    assert "last words before SIGKILL" in umbrella["message"]
    assert run.check(T, "vendor.tests/test_dies.py::test_kills_the_runner")["outcome"] == "failed"
    assert "last words before SIGKILL" in (run.out / f"logs/{T}/vendor-tests.log").read_text()


KILLS_INIT = '''
def test_kills_the_targets_init(host):
    host.run("kill -TERM 1; kill -KILL 1; kill -INT 1; kill -HUP 1")
    assert host.run("echo still here").stdout == "still here\\n"
'''


def test_a_vendor_test_that_signals_the_targets_init_leaves_it_up(lab_run, tmp_path):
    """With Docker's init as process 1, a review's `kill -TERM 1` stopped the target and the whole
    run was broken. The lab's process 1 ignores what is sent from inside; the run goes on."""
    sub = offline_product(tmp_path / "sub", {"tests/test_init.py": KILLS_INIT})
    run = lab_run(sub, "--targets", T, "--suites", "install,vendor")
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert run.check(T, "vendor.tests/test_init.py::test_kills_the_targets_init")["outcome"] == "passed"
    assert run.check(T, "install.uninstall")["outcome"] == "passed"


FILLS = '''
def test_fills_the_disk():
    with open("/dev/zero", "rb") as zero, open("/var/tmp/fill", "wb") as fill:
        for _ in range(2000):  # 2 GB at most, were the lab not to stop it
            fill.write(zero.read(1 << 20))


def test_never_runs():
    pass
'''


def test_a_vendor_test_that_fills_the_disk_quota_is_stopped_and_failed(lab_run, tmp_path):
    inventory = tmp_path / "targets.toml"
    inventory.write_text((ROOT / "targets.toml").read_text()
                         .replace('path = "images/', f'path = "{ROOT}/images/')
                         .replace("limits = { install_timeout = 300, command_timeout = 120 }",
                                  'limits = { install_timeout = 300, command_timeout = 120, disk_quota = "64m" }'))
    sub = offline_product(tmp_path / "sub", {"tests/test_a.py": ECHO, "tests/test_fill.py": FILLS},
                          limits="[limits]\ninstall_timeout = 120\n")
    run = lab_run(sub, "--targets", T, "--suites", "vendor", inventory=inventory)  # nothing left running
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    assert run.target(T)["verdict"] == "failed"  # the vendor's doing, never broken
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed"
    assert re.match(r"the vendor tests wrote [\d.]+ [MG]iB on the vendor-test runner, above its disk quota of "
                    r"64\.0 MiB \(\[lab\.limits\] disk_quota\); the lab stopped the runner "
                    r"\(vendor test 'tests/test_fill\.py::test_fills_the_disk' was running; "
                    r"1 collected test\(s\) did not run\)", umbrella["message"]), umbrella["message"]
    assert umbrella["duration_s"] < 60  # stopped by the quota, not by the run's total time
    filler = run.check(T, "vendor.tests/test_fill.py::test_fills_the_disk")
    assert filler["outcome"] == "failed" and "disk_quota" in filler["message"]
    assert run.check(T, "vendor.tests/test_a.py::test_echo")["outcome"] == "passed"


def test_a_vendor_test_file_that_does_not_compile_is_named_with_its_error_first(lab_run, tmp_path):
    """New user: a syntax error said only "pytest ended with exit status 2 (...)"; the SyntaxError came
    1,300 characters later with the runner's own paths. The reason now ends with it, as submitted."""
    sub = offline_product(tmp_path / "sub", {"tests/test_echo.py": ECHO, "tests/test_syntax.py": "def test_x(\n"})
    run = lab_run(sub, "--targets", T, "--suites", "vendor")
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed"
    first = umbrella["message"].splitlines()[0]
    assert first.startswith("the vendor tests could not run: pytest ended with exit status 2"), first
    assert ": tests/test_syntax.py: SyntaxError: '(' was never closed (line 1)" in first, first
    assert "work/sub/" not in umbrella["message"]
    assert run.verdicts["targets"][T]["reason"] == f"vendor.tests: {first}"
