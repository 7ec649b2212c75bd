"""Turning the failures an unexpired waiver covers into ``waived``, and the verdicts after that.

Only a *failed* check can be waived: a broken one is the lab's fault (the lab fixes it, it does
not excuse it) and a passed one needs nothing. The function is idempotent and authoritative: a
check already ``waived`` (results from elsewhere, or applied before) is first put back to
``failed`` and judged again against *these* waivers, so an expired or withdrawn waiver stops
applying everywhere the same function runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from lab.results.model import Check, Outcome, TargetResult, Verdicts, Waiver, reason_of, reduce
from lab.waivers.load import LoadedWaivers
from lab.waivers.model import WaiverEntry


@dataclass(frozen=True)
class Use:
    """One waiver meeting one failed check on one target."""

    target: str
    check: str
    entry: WaiverEntry


@dataclass
class Applied:
    verdicts: Verdicts
    waived: list[Use] = field(default_factory=list)     # now waived
    expired: list[Use] = field(default_factory=list)    # would have been, but the waiver has expired

    @property
    def changed(self) -> set[str]:
        return {u.target for u in self.waived}


def as_waiver(entry: WaiverEntry) -> Waiver:
    return Waiver(reason=entry.reason, reviewer=entry.reviewer, expires=entry.expires.isoformat())


def find(entries: list[WaiverEntry], product: str, version: str, target: str, check_id: str,
         today: date) -> tuple[WaiverEntry | None, WaiverEntry | None]:
    """(the unexpired waiver that covers it, else None; an expired one that would have, else None).
    Of several unexpired ones, the one that lasts longest."""
    covering = [w for w in entries if w.covers(product, version, target, check_id)]
    live = [w for w in covering if not w.expired(today)]
    dead = [w for w in covering if w.expired(today)]
    return (max(live, key=lambda w: w.expires) if live else None,
            max(dead, key=lambda w: w.expires) if dead else None)


def apply_waivers(verdicts: Verdicts, waivers: LoadedWaivers | list[WaiverEntry], today: date | None = None
                  ) -> Applied:
    entries = waivers.entries if isinstance(waivers, LoadedWaivers) else list(waivers)
    today = today or datetime.now(UTC).date()
    product, version = verdicts.submission.name, verdicts.submission.version
    applied = Applied(verdicts)
    targets: dict[str, TargetResult] = {}
    for name, result in verdicts.targets.items():
        checks, touched = [], False
        for c in result.checks:
            if c.outcome == Outcome.WAIVED:  # judged again, against these waivers
                c = c.model_copy(update={"outcome": Outcome.FAILED, "waiver": None})
                touched = True
            if c.outcome == Outcome.FAILED:
                live, dead = find(entries, product, version, name, c.id, today)
                if live is not None:
                    c = c.model_copy(update={"outcome": Outcome.WAIVED, "waiver": as_waiver(live)})
                    applied.waived.append(Use(name, c.id, live))
                    touched = True
                elif dead is not None:
                    applied.expired.append(Use(name, c.id, dead))
            checks.append(c)
        targets[name] = _rejudged(result, checks) if touched else result
    applied.verdicts = verdicts.model_copy(update={"targets": targets})
    return applied


def _rejudged(result: TargetResult, checks: list[Check]) -> TargetResult:
    """The verdict and reason from the checks as they now are. A target stopped at the wall clock
    (``lab.worker`` broken) or any other broken check keeps it: only failures are waived."""
    verdict = reduce(checks)
    if verdict == Outcome.SKIPPED and result.verdict != Outcome.SKIPPED:
        verdict = result.verdict  # nothing required was judged: leave it as the harness said
    waived = {c.id for c in checks if c.outcome == Outcome.WAIVED}
    stale = result.reason.split(":", 1)[0] in waived  # the reason named a failure now accepted
    reason = reason_of(checks, verdict) if verdict != result.verdict or stale else result.reason
    return result.model_copy(update={"checks": checks, "verdict": verdict, "reason": reason})
