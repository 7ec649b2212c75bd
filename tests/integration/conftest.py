"""Running ``lab run`` for real, as an engineer would, and reading what it wrote.

A ``lab run`` costs a container per target (a UKUI one, or one under qemu, costs minutes): the runs
that several tests read are made once per session (``shared_run``) and each test asserts on them."""

from __future__ import annotations

import json
import os
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
from tests.integration.packages import osv


@dataclass
class RunResult:
    proc: subprocess.CompletedProcess
    out: Path
    catalogue: str = ""          # where the run recorded (a shared run's, for the tests that publish it)

    @property
    def verdicts(self) -> dict:
        return json.loads((self.out / "verdicts.json").read_text())

    def target(self, name: str) -> dict:
        return self.verdicts["targets"][name]

    def check(self, target: str, check_id: str) -> dict:
        return next(c for c in self.target(target)["checks"] if c["id"] == check_id)


def run_lab(submission: Path, out: Path, *args: str, catalogue: str, inventory: Path | None = None,
            env: dict[str, str] | None = None) -> RunResult:
    """``lab run`` in a process of its own; no traceback, and verdicts.json valid against the schema."""
    cmd = [sys.executable, "-m", "lab", "run", str(submission), "--output", str(out), "--no-report", *args]
    if "--catalogue" not in args:  # never the lab's own catalogue
        cmd += ["--catalogue", catalogue]
    if inventory:
        cmd += ["--inventory", str(inventory)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    result = RunResult(proc, out)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    if (out / "verdicts.json").exists():
        jsonschema.validate(result.verdicts, shipped())
        # the report is made while workers remove their targets, but none outlives `lab run`
        left = client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={result.verdicts['run']}"})
        assert not left, [c.name for c in left]
    return result


@pytest.fixture(scope="session")
def examples(built):
    """The example submissions' packages, built once (images first: two of them come from there)."""
    for name in ("debian12-x86_64", "debian13-x86_64", "debian12-aarch64"):
        built(name)
    subprocess.run([sys.executable, str(ROOT / "examples/build.py")], check=True)
    return ROOT / "examples"


@pytest.fixture(scope="session")
def quick_watch(tmp_path_factory) -> Path:
    """The lab's inventory with the shortest stability watch that still judges a trend (4 s of
    one-second samples: at least MIN_SAMPLES after the warm-up) and two kills instead of ten, for
    runs whose point is not the watch itself (tests/integration/test_run_stability.py is about the
    watch, and keeps the lab's own)."""
    text = (ROOT / "targets.toml").read_text().replace('path = "images/', f'path = "{ROOT}/images/')
    head, sep, rest = text.partition("[lab.stability]\n")
    assert sep, "targets.toml has no [lab.stability] table"
    body, _, tail = rest.partition("\n\n")
    kept = [line for line in body.splitlines() if not line.startswith(("duration", "interval", "kills"))]
    text = head + sep + "\n".join([*kept, "duration = 4", "interval = 1", "kills = 2"]) + "\n\n" + tail
    path = tmp_path_factory.mktemp("quick-watch") / "targets.toml"
    path.write_text(text)
    return path


# name -> (example, lab run arguments, uses the quick watch, LAB_CACHE)
SHARED = {
    # test_run_examples and test_evidence (its catalogue holds these two runs and nothing else);
    # trixie-hello without the dependency cache: test_cache compares its runs with the cache to it
    "acme-hello": ("acme-hello", ("--targets", "debian12-x86_64,debian13-x86_64"), False, None),
    "trixie-hello": ("trixie-hello", ("--targets", "debian12-x86_64,debian13-x86_64,openeuler2203-x86_64"),
                     False, "off"),
    # test_run_fair and test_cache (its run without the cache)
    "debian-memcached-off": ("debian-memcached", ("--targets", "debian12-x86_64"), True, "off"),
    # test_run_fair and test_run_supply (its own catalogue, an OSV record imported first)
    "debian-curl": ("debian-curl", ("--targets", "debian12-x86_64"), False, None),
}


@pytest.fixture(scope="session")
def shared_run(examples, tmp_path_factory, quick_watch):
    """``shared_run(name)``: the example run ``SHARED[name]``, made once per session whichever test
    asks first. The acme-hello and trixie-hello runs share a catalogue and signing key of their
    own (the key beside the catalogue, in ``key/``: test_evidence publishes them); debian-curl
    records into a catalogue of its own where an OSV record (fixed long ago: it must not flag the
    run) was imported first (test_run_supply imports more and publishes)."""
    folder = tmp_path_factory.mktemp("shared-runs")
    done: dict[str, RunResult] = {}

    def get(name: str) -> RunResult:
        if name in done:
            return done[name]
        example, args, quick, cache = SHARED[name]
        # acme-hello and trixie-hello share the catalogue (and key) test_evidence publishes; others their own
        home = folder if name in ("acme-hello", "trixie-hello") else folder / name
        home.mkdir(exist_ok=True)
        catalogue = f"sqlite:///{home / 'catalogue.db'}"
        env = dict(os.environ)
        if home == folder:
            env["LAB_SIGNING_KEY"] = str(home / "key" / "signing-key.pem")
        if name == "debian-curl":
            (home / "feed").mkdir()
            fixed_long_ago = osv(home / "feed", "OSV-TEST-CURL-OLD", "Debian:12", "curl", "7.50.0-1")
            imported = subprocess.run([sys.executable, "-m", "lab", "vulns", "import", str(fixed_long_ago),
                                       "--catalogue", catalogue], capture_output=True, text=True, cwd=ROOT)
            assert imported.returncode == 0, imported.stdout + imported.stderr
            env["LAB_CATALOGUE"] = catalogue  # the workers read the feed the run records into
        if cache:
            env["LAB_CACHE"] = cache
        result = run_lab(examples / example, home / f"run-{name}", *args, catalogue=catalogue,
                         inventory=quick_watch if quick else None, env=env)
        result.catalogue = catalogue
        done[name] = result
        return result
    return get


@pytest.fixture
def lab_run(tmp_path, built):
    built("debian12-x86_64")
    counter = iter(range(1000))

    def run(submission, *args, inventory=None) -> RunResult:
        return run_lab(submission, tmp_path / f"run{next(counter)}", *args,
                       catalogue=f"sqlite:///{tmp_path / 'catalogue.db'}", inventory=inventory)
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


@pytest.fixture(scope="module")
def service(engines, tmp_path_factory):
    """The centre's API and portal under uvicorn over real engines, for one test module
    (tests/integration/portal_service.py)."""
    from tests.integration.portal_service import running

    with running(engines, tmp_path_factory) as svc:
        yield svc
