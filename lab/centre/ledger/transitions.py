"""The steps every writer of the ledger is made of: lock the submission, find the attempt a
credential belongs to, end an attempt, start the next one, bring the submission's state along.

Every writer locks the submission's row first (``SELECT ... FOR UPDATE`` on PostgreSQL), so
concurrent claims, finishes and takeovers of one submission's cells are serialised and each sees
the others' effect."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.centre.ledger.queries import attempts_of, get, submission_state
from lab.centre.models import Cell, Submission
from lab.hashing import sha256_text
from lab.settings import Settings


def hash_credential(credential: str) -> str:
    """How an attempt's credential is stored: its hash only, so the table holds nothing to use."""
    return sha256_text(credential)


def lock_submission(session: Session, submission_id: str) -> Submission:
    """Lock the submission's row for this transaction; every writer takes it first."""
    return session.scalars(select(Submission).where(Submission.id == submission_id)
                           .with_for_update().execution_options(populate_existing=True)).one()


def locked_current(session: Session, cell_id: int) -> tuple[Submission, list[Cell]]:
    """The submission (locked) and the cell's attempts; the current one is the last."""
    row = get(session, cell_id)
    submission_id, target = row.submission_id, row.target  # never change: safe to read unlocked
    sub = lock_submission(session, submission_id)
    return sub, attempts_of(session, submission_id, target)


def by_credential(attempts: Sequence[Cell], credential: str) -> Cell | None:
    digest = hash_credential(credential or "")
    found = None
    for a in attempts:
        if a.credential_sha256 and hmac.compare_digest(a.credential_sha256, digest):
            found = a
    return found


def refresh(session: Session, sub: Submission, now: datetime) -> None:
    """The submission's state from its cells' current attempts."""
    sub.state = submission_state(session, sub)
    sub.finished = (sub.finished or now) if sub.state == "finished" else None


def next_attempt(session: Session, old: Cell, now: datetime) -> Cell:
    new = Cell(submission_id=old.submission_id, target=old.target, attempt=old.attempt + 1, state="queued",
               queued_at=now, reason="")
    session.add(new)
    return new


def end_attempt(cell: Cell, state: str, reason: str, now: datetime) -> None:
    cell.state = state
    cell.reason = reason
    cell.finished_at = now


def lost_reason(cell: Cell) -> str:
    return f"worker {cell.worker or '?'} lost"


def supersede(session: Session, cur: Cell, reason: str, settings: Settings, now: datetime) -> Cell | None:
    """End the current (running) attempt broken with ``reason``; the next attempt (queued) when the
    automatic attempts allow one, else None: the cell is then broken for good with that reason."""
    end_attempt(cur, "broken", reason, now)
    if cur.attempt >= settings.cell_attempts:
        return None
    return next_attempt(session, cur, now)
