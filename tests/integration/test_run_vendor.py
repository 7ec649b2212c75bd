"""Suite `vendor`: the submission's own tests, run in the sandboxed runner against the target."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"

VENDOR_TESTS = '''
from pathlib import Path


def test_calc_adds(host):
    assert host.run("acme-calc 1 1").stdout.strip() == "2"


def test_calc_multiplies(host):
    assert host.run("acme-calc 2 3").stdout.strip() == "6", "acme-calc cannot multiply"


def test_runs_in_the_sandbox_not_on_the_lab_host():
    Path("/tmp/lab-vendor-code-was-here").write_text("x")
    assert not Path("/work/main/targets.toml").exists()
'''


def test_vendor_tests_run_sandboxed_and_each_is_a_check(examples, lab_run, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(examples / "acme-calc", sub, ignore=shutil.ignore_patterns("tests"))
    (sub / "tests").mkdir()
    (sub / "tests/test_mine.py").write_text(VENDOR_TESTS)
    Path("/tmp/lab-vendor-code-was-here").unlink(missing_ok=True)
    run = lab_run(sub, "--targets", T, "--suites", "vendor")
    assert run.proc.returncode == 1
    outcomes = {c["id"]: c["outcome"] for c in run.target(T)["checks"]}
    assert outcomes["vendor.test_calc_adds"] == "passed"
    assert outcomes["vendor.test_runs_in_the_sandbox_not_on_the_lab_host"] == "passed"
    assert outcomes["vendor.test_calc_multiplies"] == "failed"
    umbrella = run.check(T, "vendor.tests")
    assert umbrella["outcome"] == "failed" and "1 of 3 vendor test(s) failed" in umbrella["message"]
    assert "acme-calc cannot multiply" in umbrella["message"]
    assert any(e["command"] == "acme-calc 2 3" for e in umbrella["evidence"])
    assert not Path("/tmp/lab-vendor-code-was-here").exists()  # vendor code never ran on this host
    assert (run.out / f"logs/{T}/vendor-tests.log").read_text().count("FAILED") >= 1
