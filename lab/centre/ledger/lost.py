"""The sweep's half of the ledger: running attempts whose worker went quiet, and queued ones whose
message the broker seems to have lost (``lab.centre.sweep`` acts on both)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.centre.ledger.queries import aware, is_stale, utcnow
from lab.centre.ledger.transitions import locked_current, lost_reason, refresh, supersede
from lab.centre.models import Cell
from lab.settings import Settings


def lost(session: Session, settings: Settings, now: datetime | None = None) -> list[Cell]:
    """Running attempts whose heartbeat is older than ``settings.lost_after_s``."""
    now = now or utcnow()
    running = session.scalars(select(Cell).where(Cell.state == "running").order_by(Cell.id))
    return [c for c in running if is_stale(c, settings, now)]


def take_over(session: Session, cell_id: int, settings: Settings, now: datetime | None = None) -> Cell | None:
    """The sweep's half of a claim: if the cell's current attempt is (still) running with a stale
    heartbeat, it ends broken "worker NAME lost" and the next attempt is queued and returned (the
    caller enqueues it before committing); None when nothing was to be done or the attempts are used
    up (then the cell is broken for good)."""
    now = now or utcnow()
    sub, attempts = locked_current(session, cell_id)
    cur = attempts[-1]
    if cur.state != "running" or not is_stale(cur, settings, now):
        return None
    nxt = supersede(session, cur, lost_reason(cur), settings, now)
    refresh(session, sub, now)
    session.flush()
    return nxt


def unheard(session: Session, settings: Settings, ready: dict[str, int] | None,
            now: datetime | None = None) -> list[Cell]:
    """Queued attempts whose message the broker seems to have lost: their target's queue holds no
    ready message (``ready``: target -> messages ready, as the broker says) and their message was
    published more than ``settings.republish_after_s`` ago. A message still on its way (held by a
    worker about to claim, or waiting out a retry's countdown) may make this a false alarm: the
    copy published again is harmless, the claim drops whichever comes second; and the interval
    bounds how many copies there can be. ``ready=None``: the candidates, before asking the broker."""
    now = now or utcnow()
    found = []
    for c in session.scalars(select(Cell).where(Cell.state == "queued").order_by(Cell.queued_at, Cell.id)):
        since = (now - aware(c.published_at or c.queued_at)).total_seconds()
        if since > settings.republish_after_s and (ready is None or ready.get(c.target, 1) == 0):
            found.append(c)
    return found


def published(cell: Cell, now: datetime | None = None) -> None:
    """Note that the cell's message was published again (the caller commits)."""
    cell.published_at = now or utcnow()
