"""A worker's claim of a cell: the one way an attempt starts running, with a fresh credential.

Why the heartbeat, and not the broker's redelivery alone, decides that a worker is lost: a
RabbitMQ restart (or any broken AMQP connection) re-delivers every unacknowledged message, also
those of workers that are alive and still running the cell. Taking a cell over on redelivery
would run it twice; taking it over when its heartbeat is stale runs it once.

Boards: ``exclusive=True`` (the API passes it for boards) refuses to start a cell while another
cell of the same target runs on a live worker anywhere, so a board never runs two cells at once
even when workers on two hosts both declare it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lab.centre.ledger.errors import AttemptsUsed, CellBusy, CellDone
from lab.centre.ledger.queries import VERDICTS, age, is_stale, utcnow
from lab.centre.ledger.transitions import hash_credential, locked_current, lost_reason, refresh, supersede
from lab.centre.models import Cell
from lab.settings import Settings


@dataclass(frozen=True)
class Claim:
    """A started attempt and its credential, shown to the claiming worker once, never stored."""

    attempt_cell: Cell
    credential: str


def _target_mutex(session: Session, target: str) -> None:
    """Serialise claims of one (board) target across submissions, on PostgreSQL; SQLite writers
    are serialised by the database itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"lab.board:{target}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": key})


def claim(session: Session, cell_id: int, worker: str, settings: Settings, *, exclusive: bool = False,
          now: datetime | None = None) -> Claim:
    """Start the cell's current attempt on ``worker``, with a fresh credential.

    - queued: it becomes running on ``worker``;
    - running with a recent heartbeat (on any worker, this one included: a re-delivery after a
      broker restart): ``CellBusy``, nothing changes;
    - running with a stale heartbeat: that attempt ends broken "worker NAME lost" and the next
      one starts here; past ``settings.cell_attempts`` attempts the cell ends broken for good with
      that reason and ``AttemptsUsed`` is raised (commit the session all the same);
    - done: ``CellDone``.

    ``exclusive`` (boards): ``CellBusy`` while another cell of the same target runs on a live worker.
    """
    now = now or utcnow()
    sub, attempts = locked_current(session, cell_id)
    cur = attempts[-1]
    if cur.state in VERDICTS:
        raise CellDone(f"cell {cur.target} of {cur.submission_id} is done ({cur.state})")
    if cur.state == "running" and age(cur, now) <= settings.lost_after_s:
        quiet = age(cur, now)
        raise CellBusy(f"cell {cur.target} runs on worker {cur.worker} (heartbeat {quiet:.0f} s ago)",
                       retry_after=settings.lost_after_s - quiet + 1)
    if exclusive:  # before any change: a busy board leaves the ledger as it was
        _target_mutex(session, cur.target)
        others = session.scalars(select(Cell).where(Cell.target == cur.target, Cell.state == "running",
                                                    Cell.id != cur.id)
                                 .execution_options(populate_existing=True)).all()
        live = [o for o in others if not is_stale(o, settings, now)]
        if live:
            raise CellBusy(f"board {cur.target} runs cell {live[0].id} on worker {live[0].worker}",
                           retry_after=min(settings.lost_after_s, max(2.0, settings.heartbeat_s)))
    if cur.state == "running":  # stale: its worker is lost
        reason = lost_reason(cur)
        nxt = supersede(session, cur, reason, settings, now)
        if nxt is None:
            refresh(session, sub, now)
            session.flush()
            raise AttemptsUsed(f"cell {cur.target} of {cur.submission_id}: {reason} on its last attempt "
                               f"({cur.attempt} of {settings.cell_attempts}); broken for good")
        session.flush()
        cur = nxt
    credential = secrets.token_urlsafe(32)
    cur.state = "running"
    cur.worker = worker
    cur.credential_sha256 = hash_credential(credential)
    cur.started_at = now
    cur.heartbeat = now
    cur.finished_at = None
    refresh(session, sub, now)
    session.flush()
    return Claim(cur, credential)
