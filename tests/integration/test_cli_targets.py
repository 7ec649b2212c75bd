"""``lab targets``, ``lab targets check`` and ``lab gc`` as an engineer runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab.engine import LABEL_RUN, client
from lab.provision.container import LABEL_PID
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def lab(*args):
    """A wide terminal: each target's row on one line (a narrow one wraps its cells)."""
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "250"})


def test_targets_lists_disabled_ones():
    proc = lab("targets")
    assert proc.returncode == 0
    assert "openeuler2203-x86_64" in proc.stdout and "disabled" in proc.stdout


def test_check_shows_real_facts(built):
    built("debian12-x86_64")
    built("debian13-x86_64")
    proc = lab("targets", "check", "debian12-x86_64", "debian13-x86_64")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if "│" in line}
    assert "2.36" in rows["debian12-x86_64"] and "bookworm" in rows["debian12-x86_64"]
    assert "2.41" in rows["debian13-x86_64"] and "trixie" in rows["debian13-x86_64"]
    # the limits the container really runs under (read from cgroup v1 or v2), not "none"
    assert "mem 1 GiB, pids 512, cpus 1" in rows["debian12-x86_64"], rows["debian12-x86_64"]


def test_check_of_a_registry_target_is_broken_not_a_crash():
    proc = lab("targets", "check", "openeuler2203-x86_64")
    assert proc.returncode == 3
    assert "no registry" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_check_of_an_unknown_target_is_bad_input():
    proc = lab("targets", "check", "nope")
    assert proc.returncode == 2 and "no target named 'nope'" in proc.stderr


def test_gc_removes_containers_of_dead_runs_only(built):
    image = built("debian12-x86_64").docker.image
    dead = subprocess.Popen(["true"])
    dead.wait()
    c_dead = client().containers.run(image, ["sleep", "60"], detach=True, network_mode="none",
                                     labels={LABEL_RUN: "gc-dead", LABEL_PID: str(dead.pid)})
    c_live = client().containers.run(image, ["sleep", "60"], detach=True, network_mode="none",
                                     labels={LABEL_RUN: "gc-live", LABEL_PID: "1"})
    try:
        proc = lab("gc")
        assert proc.returncode == 0 and c_dead.name in proc.stdout
        names = {c.name for c in client().containers.list(all=True, filters={"label": LABEL_RUN})}
        assert c_dead.name not in names and c_live.name in names
    finally:
        c_live.remove(force=True)
        subprocess.run(["docker", "rm", "-f", c_dead.name], capture_output=True)


def test_check_of_a_real_board_outside_the_allowed_networks_is_broken_without_any_lookup():
    proc = lab("targets", "check", "kylin-v10-aarch64")
    assert proc.returncode == 3
    assert "refusing to look up kylin-v10-kunpeng.boards.lab.example" in proc.stdout
