"""Limits a vendor sets are finite and capped by the lab's maxima: exit 2 naming the field and the
maximum, before anything runs (issue 16 case 7)."""

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
