"""Running ``lab run`` for real, as an engineer would, and reading what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from lab.engine import LABEL_RUN, client
from lab.results.schema import shipped
from tests.browser import Browser
from tests.conftest import ROOT


@dataclass
class RunResult:
    proc: subprocess.CompletedProcess
    out: Path

    @property
    def verdicts(self) -> dict:
        return json.loads((self.out / "verdicts.json").read_text())

    def target(self, name: str) -> dict:
        return self.verdicts["targets"][name]

    def check(self, target: str, check_id: str) -> dict:
        return next(c for c in self.target(target)["checks"] if c["id"] == check_id)


@pytest.fixture(scope="session")
def examples(built):
    """The example submissions' packages, built once (images first: two of them come from there)."""
    for name in ("debian12-x86_64", "debian13-x86_64", "debian12-aarch64"):
        built(name)
    subprocess.run([sys.executable, str(ROOT / "examples/build.py")], check=True)
    return ROOT / "examples"


@pytest.fixture
def lab_run(tmp_path, built):
    built("debian12-x86_64")
    counter = iter(range(1000))

    def run(submission, *args, inventory=None) -> RunResult:
        out = tmp_path / f"run{next(counter)}"
        cmd = [sys.executable, "-m", "lab", "run", str(submission), "--output", str(out), "--no-report", *args]
        if "--catalogue" not in args:  # never the lab's own catalogue
            cmd += ["--catalogue", f"sqlite:///{tmp_path / 'catalogue.db'}"]
        if inventory:
            cmd += ["--inventory", str(inventory)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
        result = RunResult(proc, out)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        if (out / "verdicts.json").exists():
            jsonschema.validate(result.verdicts, shipped())
            # the report is made while workers remove their targets, but none outlives `lab run`
            left = client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={result.verdicts['run']}"})
            assert not left, [c.name for c in left]
        return result
    return run


@pytest.fixture
def browser():
    """A real Chromium with a profile of its own, closed at the end."""
    with tempfile.TemporaryDirectory(prefix="lab-chromium-") as profile:
        b = Browser(Path(profile))
        try:
            yield b
        finally:
            b.close()
