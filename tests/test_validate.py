"""`lab validate` and `lab run` as a vendor meets them: limits finite and capped by the lab's maxima
(exit 2 naming the field and the maximum, before anything runs), claims checked against the
inventory with near matches, patterns printed literally (issues 16 and 17)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integration.packages import MANIFEST


@pytest.mark.parametrize(("limits", "said"), [
    ("install_timeout = 1e12", "limits.install_timeout"),
    ("command_timeout = inf", "limits.command_timeout"),
    ("install_timeout = 7200", "above this lab's maximum of 3600 s ([lab.limits] max_install_timeout)"),
])
def test_limits_beyond_the_labs_maxima_are_refused(tmp_path, limits, said):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.tar.gz").write_bytes(b"")
    (sub / "submission.toml").write_text(MANIFEST.format(name="greedy")
                                         + '[[artifacts]]\npath = "a.tar.gz"\nprefix = "/opt/a"\n'
                                         + f"[limits]\n{limits}\n")
    for cmd in (["validate", str(sub)], ["run", str(sub), "--dry-run", "--catalogue", f"sqlite:///{tmp_path}/c.db"]):
        proc = subprocess.run([sys.executable, "-m", "lab", *cmd], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert said in proc.stderr and "Traceback" not in proc.stderr


def test_validate_checks_the_claims_and_prints_patterns_literally(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.tar.gz").write_bytes(b"")
    (sub / "submission.toml").write_text(MANIFEST.format(name="Bad_Name") + '[[artifacts]]\npath = "a.tar.gz"\n'
                                         'prefix = "/opt/a"\n[service]\ncommand = "x"\nports = ["80"]\n'
                                         '[claims]\ntargets = ["debian12-amd64"]\n')
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(sub)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2
    assert "product.name: must match [a-z0-9][a-z0-9.+_-]*" in proc.stderr
    assert 'service.ports[0]: must be a whole number, given "80"' in proc.stderr  # quoted: the fix is plain
    (sub / "submission.toml").write_text(MANIFEST.format(name="fine") + '[[artifacts]]\npath = "a.tar.gz"\n'
                                         'prefix = "/opt/a"\n[[artifacts]]\npath = "b.tar.gz"\nprefix = "/opt/b"\n'
                                         '[claims]\ntargets = ["debian12-amd64"]\n')
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(sub)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2
    assert "claims.targets[0]: no target named 'debian12-amd64' in targets.toml; did you mean debian12-x86_64?" \
        in proc.stderr
    assert "artifacts[1].path: b.tar.gz not found" in proc.stderr  # in the same round (a new vendor needed four)


def test_lab_run_refuses_another_vendors_product_before_touching_a_target(tmp_path):
    """Issue 16 case 5: Mallory's run of ACME's product never starts, and the error names both vendors."""
    from lab.catalogue.db import open_catalogue
    from lab.catalogue.record import check_owner, record_run
    from tests.test_catalogue import write_run

    db = f"sqlite:///{tmp_path / 'catalogue.db'}"
    check_owner(open_catalogue(db), "acme", "ACME Software Co., Ltd.")  # unknown yet: anyone's
    record_run(open_catalogue(db), write_run(tmp_path, "r1", {"debian12-x86_64": "passed"},
                                             vendor="ACME Software Co., Ltd."))
    sub = tmp_path / "mallory"
    sub.mkdir()
    (sub / "acme.tar.gz").write_bytes(b"")
    (sub / "submission.toml").write_text('schema = 1\n[product]\nname = "acme"\nversion = "0.9.0"\n'
                                         'vendor = "Mallory Inc"\n[[artifacts]]\npath = "acme.tar.gz"\n'
                                         'prefix = "/opt/acme"\n')
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(sub), "--catalogue", db, "--output",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ACME Software Co., Ltd." in proc.stderr and "Mallory Inc" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_given_value_is_quoted_back_with_its_hidden_characters_written_out():
    """Review: json.dumps leaves U+0085, U+2028 and U+202E as they are; the value quoted back is
    shown to a terminal, a page and the API."""
    from lab.validation import given

    assert given("80\u202e\u2028\x85") == '"80\\u202e\\u2028\\x85"'
    assert given("x" * 50).endswith('x"...') and given(True) == "true" and given([1]) == "a list"
