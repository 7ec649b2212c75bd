"""The sweep, run at every worker's hello: the ledger's repairs that no single worker can make.

- a running cell whose worker went quiet (no heartbeat for ``lost_after_s``) ends broken "worker
  NAME lost" and its next attempt is queued (``ledger.take_over``);
- a queued cell whose message the broker lost (its target's queue empty ``republish_after_s`` after
  the message went out) is published again (``ledger.unheard``).

Both publish through ``enqueue`` and ask the broker through ``ready`` (injected: the API passes
``lab.centre.tasks``'s, tests their own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from lab.centre import ledger
from lab.centre.models import Cell
from lab.errors import InfrastructureError
from lab.settings import Settings

log = logging.getLogger("lab.centre.sweep")

Enqueue = Callable[[Cell, Settings], None]
Ready = Callable[[list[str], Settings], dict[str, int]]


def sweep(session: Session, settings: Settings, enqueue: Enqueue, ready: Ready) -> int:
    """Take over the running cells whose worker went quiet: each ends broken "worker NAME lost" and
    its next attempt is queued (published before the commit, while the submission is locked, so a
    broker that refuses it leaves the ledger as it was for the next sweep). Then publish again the
    queued cells whose message the broker lost (``ledger.unheard``: their queue is empty long after
    their message went out), so a cell queued in the ledger never waits for a message that will not
    come. Returns how many cells were taken over or published again."""
    done = 0
    for cell in ledger.lost(session, settings):
        cell_id, target = cell.id, cell.target
        try:
            nxt = ledger.take_over(session, cell_id, settings)
            if nxt is not None:
                enqueue(session.get(Cell, cell_id), settings)  # a committed id: a claim can find it at once
            session.commit()
            done += 1
        except InfrastructureError as exc:
            session.rollback()
            log.warning("cell %s (%s) is lost but could not be queued again: %s", cell_id, target, exc)
    return done + _republish(session, settings, enqueue, ready)


def _republish(session: Session, settings: Settings, enqueue: Enqueue, ready: Ready) -> int:
    waiting = ledger.unheard(session, settings, None)
    if not waiting:
        return 0
    try:
        counts = ready(sorted({c.target for c in waiting}), settings)
    except InfrastructureError as exc:
        log.warning("queued cells not checked against the broker: %s", exc)
        return 0
    done = 0
    for cell in ledger.unheard(session, settings, counts):
        try:
            enqueue(cell, settings)
            ledger.published(cell)
            session.commit()
            log.warning("cell %s (%s) was queued with no message in its queue: published again", cell.id, cell.target)
            done += 1
        except InfrastructureError as exc:
            session.rollback()
            log.warning("cell %s (%s) could not be published again: %s", cell.id, cell.target, exc)
    return done
