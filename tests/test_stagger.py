"""The controller's staggered start (lab.run.controller): with a watched service, a container target
waits for a core while every core is taken by another target that is not watching."""

from __future__ import annotations

import json
from types import SimpleNamespace

from lab.run.controller import _staggered, _waits_for_a_core
from lab.run.progress import TargetProgress


def plan(*targets: tuple[str, str], suites=("install", "service", "stability")):
    return SimpleNamespace(targets=[SimpleNamespace(name=n, backend=b) for n, b in targets], suites=list(suites))


def sub(service: bool):
    return SimpleNamespace(model=SimpleNamespace(service=object() if service else None))


def row(tmp_path, name: str, *events: dict) -> TargetProgress:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    r = TargetProgress(name, path)
    r.poll()
    return r


def test_only_containers_of_a_watched_service_are_staggered():
    p = plan(("a", "docker"), ("b", "docker"), ("board", "ssh"))
    assert _staggered(p, sub(service=True)) == {"a", "b"}
    assert _staggered(p, sub(service=False)) == set()  # nothing waits: no watch to lay an install over
    assert _staggered(plan(("a", "docker"), suites=("install", "service")), sub(True)) == set()


def test_a_target_waits_while_every_core_is_busy_and_starts_once_one_watches(tmp_path):
    staggered = {"a", "b", "c", "board"} - {"board"}
    started = {"event": "started"}
    a = row(tmp_path, "a", started, {"event": "provisioned"})
    b = row(tmp_path, "b", started)
    progress = {"a": a, "b": b}
    assert _waits_for_a_core("c", staggered, {"a", "b"}, progress, cores=2)
    assert not _waits_for_a_core("c", staggered, {"a", "b"}, progress, cores=3)
    assert not _waits_for_a_core("board", staggered, {"a", "b"}, progress, cores=2)  # not this machine's cores
    # a begins its watch: its core is free for c
    progress["a"] = row(tmp_path, "a", started, {"event": "watch-started", "duration": 4})
    assert progress["a"].watching
    assert not _waits_for_a_core("c", staggered, {"a", "b"}, progress, cores=2)
    # its watch judged (stability.uptime): it works again, and counts
    progress["a"] = row(tmp_path, "a", started, {"event": "watch-started", "duration": 4},
                        {"event": "check", "id": "stability.uptime", "outcome": "passed"})
    assert not progress["a"].watching
    assert _waits_for_a_core("c", staggered, {"a", "b"}, progress, cores=2)
    # a finished (or only removes its container): no longer among the running
    assert not _waits_for_a_core("c", staggered, {"b"}, progress, cores=2)
