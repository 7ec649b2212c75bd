"""Which targets and suites a run covers, decided before anything starts, and printable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.errors import InputError
from lab.inventory.load import LoadedInventory
from lab.inventory.model import Target
from lab.submission.load import LoadedSubmission
from lab.submission.model import Submission
from lab.suite.registry import suite_names


@dataclass(frozen=True)
class Plan:
    run_id: str
    targets: list[Target]
    suites: list[str]
    out: Path
    submission: Path

    def describe(self) -> dict:
        return {"run": self.run_id, "submission": str(self.submission), "targets": [t.name for t in self.targets],
                "suites": self.suites, "out": str(self.out)}


def claimed(inv: LoadedInventory, model: Submission) -> tuple[list[Target], list[str]]:
    """The targets a manifest's claims name in this inventory, and the problems of those claims
    (a target it does not have, tags no enabled target carries): checked with the rest of a
    submission, so ``lab validate`` says them in the same round as the files' problems."""
    claims = model.claims
    if not claims.targets and not claims.tags:
        return inv.model.enabled, []
    known = {t.name: t for t in inv.model.targets}
    unknown = [f"claims.targets[{i}]: {inv.unknown(n)}" for i, n in enumerate(claims.targets) if n not in known]
    if unknown:
        return [], unknown
    chosen = [known[n] for n in claims.targets]
    if claims.tags:
        chosen += [t for t in inv.model.enabled if set(claims.tags) <= t.all_tags and t not in chosen]
    return chosen, [] if chosen else [f"claims.tags: no enabled target carries all of {claims.tags}"]


def choose_targets(inv: LoadedInventory, sub: LoadedSubmission, names: list[str] | None) -> list[Target]:
    """Named targets (disabled ones too); else the claims; else every enabled target."""
    if names:
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # two workers on one target would write the same results and logs
            raise InputError("--targets", [f"{n}: named twice" for n in twice])
        return inv.select(names)
    chosen, problems = claimed(inv, sub.model)
    if problems:
        raise InputError(str(sub.root / "submission.toml"), problems)
    return chosen


def choose_suites(names: list[str] | None) -> list[str]:
    known = suite_names()
    if not names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError("--suites", [f"no suite named {n!r} (known: {', '.join(known)})" for n in unknown])
    return names
