"""The cell ledger: the state machine over ``Cell`` rows, the only place a cell's state lives.

A *cell* is one submission x target; each of its rows is one *attempt* (1, 2, ...). The highest
attempt is the *current* one and the only one that can be ``queued`` or ``running``: every
earlier attempt has ended (``broken`` "worker NAME lost" when it was taken over, or a result an
engineer requeued). So a cell has exactly one final result: the current attempt, once it is
``passed``/``failed``/``broken``/``skipped``; nothing else can write it, because only the current
attempt's credential (handed out once, stored as its sha256) may finish it.

States of an attempt::

    queued --claim--> running --finish(credential)--> passed | failed | broken | skipped
                        |  no heartbeat for lost_after_s, then a claim or the sweep:
                        +--> broken "worker NAME lost"  + attempt N+1 queued/running
                             (or, past settings.cell_attempts, broken for good with that reason)

Why the heartbeat, and not the broker's redelivery alone, decides that a worker is lost: a
RabbitMQ restart (or any broken AMQP connection) re-delivers every unacknowledged message, also
those of workers that are alive and still running the cell. Taking a cell over on redelivery
would run it twice; taking it over when its heartbeat is stale runs it once. A redelivered task
whose cell is running on a live worker is told to come back later (``CellBusy``), and a cell
that is done is not claimed again (``CellDone``).

Engines' traps this design answers (see also lab.centre.tasks):

- a Redis broker's visibility timeout would re-deliver a long task while it still runs: the
  centre uses RabbitMQ, and even then the ledger refuses a second live run;
- RabbitMQ's consumer timeout cancels a delivery unacknowledged for too long: engines.Rabbit sets
  it to a day, above [lab.limits] worker_timeout (2 h by default), the bound of one cell's run;
- a cell pinned to one board hangs when that board's only worker dies: ``stuck`` lists the
  queued cells of targets that no live worker serves, for the engineers' console.

Boards: ``claim(..., exclusive=True)`` (the API passes it for boards) refuses to start a cell
while another cell of the same target runs on a live worker anywhere, so a board never runs two
cells at once even when workers on two hosts both declare it.

Every function takes a ``Session`` and leaves committing to the caller; the writers lock the
submission's row first (``SELECT ... FOR UPDATE`` on PostgreSQL), so concurrent claims, finishes
and takeovers of one submission's cells are serialised and each sees the others' effect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lab.centre.models import Cell, Submission, Worker
from lab.errors import InputError, LabError
from lab.settings import Settings

VERDICTS = ("passed", "failed", "broken", "skipped")
ACTIVE = ("queued", "running")


# --- what can go wrong, as types (the API maps them to 404, 409, 410, 403) ----------------------


class LedgerError(LabError):
    """A ledger operation that cannot be done in the cell's present state."""


class UnknownCell(LedgerError):
    """No such cell (the API answers 404)."""


class CellDone(LedgerError):
    """The cell has its final result; it is not claimed or finished again (409)."""


class CellBusy(LedgerError):
    """The cell runs on a live worker, or its board is busy: try again after ``retry_after`` s (409)."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = max(1.0, retry_after)


class AttemptsUsed(LedgerError):
    """The last allowed attempt was lost: the cell is now broken for good (410).

    Raised *after* the ledger recorded that: the caller commits the session before answering."""


class BadCredential(LedgerError):
    """No attempt of this cell was given this credential (403)."""


class Superseded(LedgerError):
    """The credential's attempt is no longer the cell's current one: it was taken over (409)."""


@dataclass(frozen=True)
class Claim:
    """A started attempt and its credential, shown to the claiming worker once, never stored."""

    attempt_cell: Cell
    credential: str


# --- helpers --------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; the ledger writes only UTC, so naive means UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def hash_credential(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def _last_sign_of_life(cell: Cell) -> datetime:
    return aware(cell.heartbeat or cell.started_at or cell.queued_at)


def _age(cell: Cell, now: datetime) -> float:
    return (now - _last_sign_of_life(cell)).total_seconds()


def _is_stale(cell: Cell, settings: Settings, now: datetime) -> bool:
    return _age(cell, now) > settings.lost_after_s


def _get(session: Session, cell_id: int) -> Cell:
    cell = session.get(Cell, cell_id)
    if cell is None:
        raise UnknownCell(f"no cell {cell_id}")
    return cell


def _lock_submission(session: Session, submission_id: str) -> Submission:
    """Lock the submission's row for this transaction; every writer takes it first."""
    sub = session.scalars(select(Submission).where(Submission.id == submission_id)
                          .with_for_update().execution_options(populate_existing=True)).one()
    return sub


def _attempts(session: Session, submission_id: str, target: str) -> list[Cell]:
    """Every attempt of one cell, oldest first, read afresh (after the lock: a new snapshot)."""
    return list(session.scalars(select(Cell).where(Cell.submission_id == submission_id, Cell.target == target)
                                .order_by(Cell.attempt).execution_options(populate_existing=True)))


def _locked_current(session: Session, cell_id: int) -> tuple[Submission, list[Cell]]:
    """The submission (locked) and the cell's attempts; the current one is the last."""
    row = _get(session, cell_id)
    submission_id, target = row.submission_id, row.target  # never change: safe to read unlocked
    sub = _lock_submission(session, submission_id)
    return sub, _attempts(session, submission_id, target)


def _target_mutex(session: Session, target: str) -> None:
    """Serialise claims of one (board) target across submissions, on PostgreSQL; SQLite writers
    are serialised by the database itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"lab.board:{target}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": key})


def _by_credential(attempts: Sequence[Cell], credential: str) -> Cell | None:
    digest = hash_credential(credential or "")
    found = None
    for a in attempts:
        if a.credential_sha256 and hmac.compare_digest(a.credential_sha256, digest):
            found = a
    return found


def _refresh(session: Session, sub: Submission, now: datetime) -> None:
    """The submission's state from its cells' current attempts."""
    states = [c.state for c in current_cells(session, sub.id)]
    if states and all(s in VERDICTS for s in states):
        sub.state = "finished"
        sub.finished = sub.finished or now
    else:
        sub.state = "queued" if all(s == "queued" for s in states) else "running"
        sub.finished = None


def _next_attempt(session: Session, old: Cell, now: datetime) -> Cell:
    new = Cell(submission_id=old.submission_id, target=old.target, attempt=old.attempt + 1, state="queued",
               queued_at=now, reason="")
    session.add(new)
    return new


def _end_attempt(cell: Cell, state: str, reason: str, now: datetime) -> None:
    cell.state = state
    cell.reason = reason
    cell.finished_at = now


def _lost_reason(cell: Cell) -> str:
    return f"worker {cell.worker or '?'} lost"


def _supersede(session: Session, cur: Cell, reason: str, settings: Settings, now: datetime) -> Cell | None:
    """End the current (running) attempt broken with ``reason``; the next attempt (queued) when the
    automatic attempts allow one, else None: the cell is then broken for good with that reason."""
    _end_attempt(cur, "broken", reason, now)
    if cur.attempt >= settings.cell_attempts:
        return None
    return _next_attempt(session, cur, now)


# --- planning and reading -----------------------------------------------------------------------


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
    row = _get(session, cell_id)
    return _attempts(session, row.submission_id, row.target)[-1]


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


# --- a worker's side: claim, heartbeat, finish, release --------------------------------------------


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
    sub, attempts = _locked_current(session, cell_id)
    cur = attempts[-1]
    if cur.state in VERDICTS:
        raise CellDone(f"cell {cur.target} of {cur.submission_id} is done ({cur.state})")
    if cur.state == "running" and _age(cur, now) <= settings.lost_after_s:
        age = _age(cur, now)
        raise CellBusy(f"cell {cur.target} runs on worker {cur.worker} (heartbeat {age:.0f} s ago)",
                       retry_after=settings.lost_after_s - age + 1)
    if exclusive:  # before any change: a busy board leaves the ledger as it was
        _target_mutex(session, cur.target)
        others = session.scalars(select(Cell).where(Cell.target == cur.target, Cell.state == "running",
                                                    Cell.id != cur.id)
                                 .execution_options(populate_existing=True)).all()
        live = [o for o in others if not _is_stale(o, settings, now)]
        if live:
            raise CellBusy(f"board {cur.target} runs cell {live[0].id} on worker {live[0].worker}",
                           retry_after=min(settings.lost_after_s, max(2.0, settings.heartbeat_s)))
    if cur.state == "running":  # stale: its worker is lost
        reason = _lost_reason(cur)
        nxt = _supersede(session, cur, reason, settings, now)
        if nxt is None:
            _refresh(session, sub, now)
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
    _refresh(session, sub, now)
    session.flush()
    return Claim(cur, credential)


def attempt_of(session: Session, cell_id: int, credential: str) -> Cell:
    """The attempt (of the cell ``cell_id`` belongs to) that was given ``credential``, whatever its
    state now; ``BadCredential`` if none. Reads only: for an idempotent answer to a repeated upload."""
    row = _get(session, cell_id)
    mine = _by_credential(_attempts(session, row.submission_id, row.target), credential)
    if mine is None:
        raise BadCredential(f"not a credential of cell {cell_id}")
    return mine


def _mine_and_current(session: Session, cell_id: int, credential: str) -> tuple[Submission, Cell]:
    sub, attempts = _locked_current(session, cell_id)
    mine = _by_credential(attempts, credential)
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
    _end_attempt(cur, verdict, reason or "", now)
    cur.results = results_folder
    _refresh(session, sub, now)
    session.flush()
    return cur


def release(session: Session, cell_id: int, credential: str, why: str, settings: Settings,
            now: datetime | None = None) -> Cell | None:
    """A worker gives its running attempt back (it is being stopped): the attempt ends broken
    "worker NAME stopped: WHY" and the next one is queued (returned: enqueue it), or, past the
    attempts allowed, the cell ends broken for good (None)."""
    now = now or utcnow()
    sub, cur = _mine_and_current(session, cell_id, credential)
    nxt = _supersede(session, cur, f"worker {cur.worker} stopped: {why}"[:2000], settings, now)
    _refresh(session, sub, now)
    session.flush()
    return nxt


# --- the service's side: lost workers, requeue, the console ---------------------------------------


def lost(session: Session, settings: Settings, now: datetime | None = None) -> list[Cell]:
    """Running attempts whose heartbeat is older than ``settings.lost_after_s``."""
    now = now or utcnow()
    running = session.scalars(select(Cell).where(Cell.state == "running").order_by(Cell.id))
    return [c for c in running if _is_stale(c, settings, now)]


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


def take_over(session: Session, cell_id: int, settings: Settings, now: datetime | None = None) -> Cell | None:
    """The sweep's half of a claim: if the cell's current attempt is (still) running with a stale
    heartbeat, it ends broken "worker NAME lost" and the next attempt is queued and returned (the
    caller enqueues it before committing); None when nothing was to be done or the attempts are used
    up (then the cell is broken for good)."""
    now = now or utcnow()
    sub, attempts = _locked_current(session, cell_id)
    cur = attempts[-1]
    if cur.state != "running" or not _is_stale(cur, settings, now):
        return None
    nxt = _supersede(session, cur, _lost_reason(cur), settings, now)
    _refresh(session, sub, now)
    session.flush()
    return nxt


def requeue(session: Session, cell_id: int, now: datetime | None = None) -> Cell:
    """An engineer's requeue of a broken cell: a new attempt, queued (the caller enqueues it).

    It is one more attempt, outside the automatic ones: if its worker is lost too, the cell ends
    broken at once (``settings.cell_attempts`` bounds re-deliveries, not engineers)."""
    now = now or utcnow()
    sub, attempts = _locked_current(session, cell_id)
    cur = attempts[-1]
    if cur.state != "broken":
        raise InputError(f"cell {cur.target}", [f"state: only a broken cell can be requeued; it is {cur.state}"])
    if sub.published:
        raise InputError(f"submission {sub.id}", ["published: its results are in the catalogue; submit it again"])
    new = _next_attempt(session, cur, now)
    _refresh(session, sub, now)
    session.flush()
    return new


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


def overdue(cell: Cell, now: datetime | None = None) -> timedelta:
    """How long since the attempt last showed life (its heartbeat, else its start or queueing)."""
    return (now or utcnow()) - _last_sign_of_life(cell)
