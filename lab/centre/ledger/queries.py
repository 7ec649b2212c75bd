"""Reading the ledger: a cell's attempts, its current one, the public contract's view of it, and
how long an attempt has been silent. Nothing here writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.centre.ledger.errors import UnknownCell
from lab.centre.models import Cell, Submission
from lab.settings import Settings

VERDICTS = ("passed", "failed", "broken", "skipped")
ACTIVE = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; the ledger writes only UTC, so naive means UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def last_sign_of_life(cell: Cell) -> datetime:
    return aware(cell.heartbeat or cell.started_at or cell.queued_at)


def age(cell: Cell, now: datetime) -> float:
    return (now - last_sign_of_life(cell)).total_seconds()


def is_stale(cell: Cell, settings: Settings, now: datetime) -> bool:
    return age(cell, now) > settings.lost_after_s


def overdue(cell: Cell, now: datetime | None = None) -> timedelta:
    """How long since the attempt last showed life (its heartbeat, else its start or queueing)."""
    return (now or utcnow()) - last_sign_of_life(cell)


def get(session: Session, cell_id: int) -> Cell:
    cell = session.get(Cell, cell_id)
    if cell is None:
        raise UnknownCell(f"no cell {cell_id}")
    return cell


def attempts_of(session: Session, submission_id: str, target: str) -> list[Cell]:
    """Every attempt of one cell, oldest first, read afresh (after the lock: a new snapshot)."""
    return list(session.scalars(select(Cell).where(Cell.submission_id == submission_id, Cell.target == target)
                                .order_by(Cell.attempt).execution_options(populate_existing=True)))


def current_cells(session: Session, submission_id: str) -> list[Cell]:
    """Each target's current (highest) attempt, in the order the targets were planned."""
    rows = session.scalars(select(Cell).where(Cell.submission_id == submission_id).order_by(Cell.id))
    first: dict[str, int] = {}
    latest: dict[str, Cell] = {}
    for c in rows:
        first.setdefault(c.target, c.id)
        if c.target not in latest or c.attempt > latest[c.target].attempt:
            latest[c.target] = c
    return sorted(latest.values(), key=lambda c: first[c.target])


def current(session: Session, cell_id: int) -> Cell:
    """The current attempt of the cell that ``cell_id`` (any of its attempts) belongs to."""
    row = get(session, cell_id)
    return attempts_of(session, row.submission_id, row.target)[-1]


def cell_view(cell: Cell) -> dict:
    """The public contract's cell: ``{"target", "state", "verdict", "reason", "attempts"}`` of a
    current attempt; ``state`` is queued, running or done, ``verdict`` set once done."""
    done = cell.state in VERDICTS
    return {"target": cell.target, "state": "done" if done else cell.state,
            "verdict": cell.state if done else None, "reason": cell.reason or "", "attempts": cell.attempt}


def cell_views(session: Session, submission_id: str) -> list[dict]:
    return [cell_view(c) for c in current_cells(session, submission_id)]


def submission_state(session: Session, submission: Submission) -> str:
    """``queued`` (nothing started), ``running`` or ``finished`` (every cell done)."""
    states = [c.state for c in current_cells(session, submission.id)]
    if states and all(s in VERDICTS for s in states):
        return "finished"
    return "queued" if all(s == "queued" for s in states) else "running"
