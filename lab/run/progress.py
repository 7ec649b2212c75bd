"""The live view of a run: one row per target, read from the workers' event files."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from lab.results.model import Outcome

COLOURS = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.BROKEN: "magenta", Outcome.SKIPPED: "yellow"}


def colour(outcome: str) -> str:
    c = COLOURS.get(outcome)
    return f"[{c}]{outcome}[/]" if c else outcome


class TargetProgress:
    def __init__(self, name: str, events: Path):
        self.name = name
        self.events = events
        self.state = "queued"
        self.done = 0
        self.bad: list[str] = []
        self.last = ""
        self.verdict = ""
        self._offset = 0

    def poll(self) -> None:
        if not self.events.exists():
            return
        with self.events.open() as fh:
            fh.seek(self._offset)
            for line in fh:
                if not line.endswith("\n"):
                    break
                self._offset += len(line.encode())
                self._apply(json.loads(line))

    def _apply(self, e: dict) -> None:
        kind = e["event"]
        if kind in ("started", "provisioning", "provisioned"):
            self.state = {"provisioned": "running"}.get(kind, kind)
        elif kind == "check":
            self.done += 1
            self.last = e["id"]
            if e["outcome"] in ("failed", "broken"):
                self.bad.append(e["id"])
        elif kind == "finished":
            self.state, self.verdict = "finished", e["verdict"]


def table(rows: list[TargetProgress]) -> Table:
    t = Table(title="lab run")
    for col in ("target", "state", "checks", "current", "failed/broken", "verdict"):
        t.add_column(col)
    for r in rows:
        t.add_row(escape(r.name), r.state, str(r.done), escape(r.last), escape(", ".join(r.bad)), colour(r.verdict))
    return t
