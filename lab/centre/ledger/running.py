"""What the worker running an attempt may do with it, each call bound to the attempt by its
credential: say it is alive, record its final result, give it back. Only the current attempt's
credential works, so a cell has exactly one final result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from lab.centre.ledger.errors import BadCredential, CellDone, Superseded
from lab.centre.ledger.queries import VERDICTS, attempts_of, get, utcnow
from lab.centre.ledger.transitions import by_credential, end_attempt, locked_current, refresh, supersede
from lab.centre.models import Cell, Submission
from lab.errors import InputError
from lab.settings import Settings


def attempt_of(session: Session, cell_id: int, credential: str) -> Cell:
    """The attempt (of the cell ``cell_id`` belongs to) that was given ``credential``, whatever its
    state now; ``BadCredential`` if none. Reads only: for an idempotent answer to a repeated upload."""
    row = get(session, cell_id)
    mine = by_credential(attempts_of(session, row.submission_id, row.target), credential)
    if mine is None:
        raise BadCredential(f"not a credential of cell {cell_id}")
    return mine


def _mine_and_current(session: Session, cell_id: int, credential: str) -> tuple[Submission, Cell]:
    sub, attempts = locked_current(session, cell_id)
    mine = by_credential(attempts, credential)
    if mine is None:
        raise BadCredential(f"not a credential of cell {cell_id}")
    cur = attempts[-1]
    if mine.id != cur.id:
        raise Superseded(f"attempt {mine.attempt} of cell {mine.target} was taken over ({mine.reason or 'ended'}); "
                         f"attempt {cur.attempt} is current")
    if cur.state in VERDICTS:
        raise CellDone(f"cell {cur.target} of {cur.submission_id} is done ({cur.state})")
    return sub, cur


def heartbeat(session: Session, cell_id: int, credential: str, now: datetime | None = None) -> Cell:
    """The worker running the current attempt says it is alive."""
    now = now or utcnow()
    _, cur = _mine_and_current(session, cell_id, credential)
    cur.heartbeat = now
    session.flush()
    return cur


def finish(session: Session, cell_id: int, credential: str, verdict: str, reason: str, results_folder: str | None,
           now: datetime | None = None) -> Cell:
    """Record the final result of the current attempt: only with its credential, only once."""
    if verdict not in VERDICTS:
        raise InputError("verdict", [f"must be one of {', '.join(VERDICTS)}, not {verdict!r}"])
    now = now or utcnow()
    sub, cur = _mine_and_current(session, cell_id, credential)
    end_attempt(cur, verdict, reason or "", now)
    cur.results = results_folder
    refresh(session, sub, now)
    session.flush()
    return cur


def release(session: Session, cell_id: int, credential: str, why: str, settings: Settings,
            now: datetime | None = None) -> Cell | None:
    """A worker gives its running attempt back (it is being stopped): the attempt ends broken
    "worker NAME stopped: WHY" and the next one is queued (returned: enqueue it), or, past the
    attempts allowed, the cell ends broken for good (None)."""
    now = now or utcnow()
    sub, cur = _mine_and_current(session, cell_id, credential)
    nxt = supersede(session, cur, f"worker {cur.worker} stopped: {why}"[:2000], settings, now)
    refresh(session, sub, now)
    session.flush()
    return nxt
