"""The staggered start on this machine's cores (lab.run.controller._staggered): a product with a
watched service on one more container target than there are cores; the last target starts once
one of the others has begun its watch, and every verdict is as it would be alone."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"


def events(run, target: str) -> dict[str, float]:
    seen: dict[str, float] = {}
    for line in (run.out / "logs" / target / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        seen.setdefault(e["event"], e["t"])
    return seen


def test_one_target_more_than_cores_starts_when_another_begins_its_watch(examples, lab_run, quick_watch, tmp_path):
    cores = len(os.sched_getaffinity(0))
    text = quick_watch.read_text()
    start = text.index(f'[[targets]]\nname = "{T}"')
    block = text[start:text.index("\n\n", start)]  # the target's table and its [targets.docker]
    copies = [f"{T}-copy{i}" for i in range(1, cores + 1)]
    inventory = tmp_path / "targets.toml"
    inventory.write_text(text + "".join("\n\n" + block.replace(f'name = "{T}"', f'name = "{c}"') for c in copies))
    names = [T, *copies]
    run = lab_run(examples / "debian-memcached", "--targets", ",".join(names), "-j", str(len(names)),
                  "--suites", "install,service,stability", inventory=inventory)
    assert run.proc.returncode == 0, run.proc.stdout
    for name in names:
        assert run.target(name)["verdict"] == "passed", run.target(name)["reason"]
    times = {name: events(run, name) for name in names}
    first, last = names[:cores], names[cores]
    assert all("watch-started" in times[n] for n in first)
    # the last waited for a core: it started after the first of the others began its watch
    assert times[last]["started"] >= min(times[n]["watch-started"] for n in first) - 0.1
    assert times[last]["started"] > max(times[n]["started"] for n in first) + 1.0
