"""New attempts that no worker asked for: a submission's first ones, and an engineer's requeue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from lab.centre.ledger.queries import utcnow
from lab.centre.ledger.transitions import locked_current, next_attempt, refresh
from lab.centre.models import Cell, Submission
from lab.errors import InputError
from lab.i18n import N_
from lab.wording import Wording

# An engineer's requeue refused: in English to the API, in the page's language on the console
ONLY_BROKEN = Wording(N_("state: only a broken cell can be requeued; it is %(state)s"), own=("state",))
PUBLISHED = Wording(N_("published: its results are in the catalogue; submit it again"))


def plan_cells(session: Session, submission: Submission, targets: Iterable[object]) -> list[Cell]:
    """One queued first attempt per target (names or inventory ``Target``s); flushed, so their ids
    are known. The caller commits, then enqueues each (``lab.centre.tasks.enqueue``)."""
    now = utcnow()
    names = [t if isinstance(t, str) else t.name for t in targets]
    if len(set(names)) != len(names):
        raise InputError("targets", [f"named twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}"])
    cells = [Cell(submission_id=submission.id, target=name, attempt=1, state="queued", queued_at=now, reason="")
             for name in names]
    session.add_all(cells)
    submission.state = "queued"
    session.flush()
    return cells


def requeue(session: Session, cell_id: int, now: datetime | None = None) -> Cell:
    """An engineer's requeue of a broken cell: a new attempt, queued (the caller enqueues it).

    It is one more attempt, outside the automatic ones: if its worker is lost too, the cell ends
    broken at once (``settings.cell_attempts`` bounds re-deliveries, not engineers)."""
    now = now or utcnow()
    sub, attempts = locked_current(session, cell_id)
    cur = attempts[-1]
    if cur.state != "broken":
        raise InputError(f"cell {cur.target}", [ONLY_BROKEN.say(state=cur.state)])
    if sub.published:
        raise InputError(f"submission {sub.id}", [PUBLISHED.say()])
    new = next_attempt(session, cur, now)
    refresh(session, sub, now)
    session.flush()
    return new
