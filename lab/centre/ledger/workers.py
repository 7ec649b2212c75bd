"""The workers the ledger knows of: who serves which targets, who is alive, and the queued cells
that no live worker serves (a cell pinned to a board whose only worker died would wait for ever)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.centre.ledger.queries import aware, utcnow
from lab.centre.models import Cell, Worker
from lab.settings import Settings


def register_worker(session: Session, name: str, targets: list[str], slots: int,
                    now: datetime | None = None) -> Worker:
    """A worker says who it is and what it serves (at start, then with every hello)."""
    now = now or utcnow()
    w = session.get(Worker, name)
    if w is None:
        w = Worker(name=name, targets=list(targets), slots=slots, heartbeat=now)
        session.add(w)
    else:
        w.targets, w.slots, w.heartbeat = list(targets), slots, now
    session.flush()
    return w


def live_workers(session: Session, settings: Settings, now: datetime | None = None) -> list[Worker]:
    now = now or utcnow()
    return [w for w in session.scalars(select(Worker).order_by(Worker.name))
            if (now - aware(w.heartbeat)).total_seconds() <= settings.lost_after_s]


def stuck(session: Session, settings: Settings, now: datetime | None = None) -> dict[str, list[Cell]]:
    """Queued cells per target that no live worker serves (e.g. a board whose only worker died):
    they would wait for ever; the console shows them."""
    now = now or utcnow()
    served = {t for w in live_workers(session, settings, now) for t in (w.targets or [])}
    found: dict[str, list[Cell]] = {}
    for c in session.scalars(select(Cell).where(Cell.state == "queued").order_by(Cell.queued_at, Cell.id)):
        if c.target not in served:
            found.setdefault(c.target, []).append(c)
    return dict(sorted(found.items()))
