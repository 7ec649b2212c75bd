"""The cell ledger's state machine, on SQLite: claims and re-deliveries, the attempts' bound, the
credentials, exactly one final result per cell, an engineer's requeue, lost and stuck cells."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.catalogue.db import open_catalogue
from lab.centre import ledger
from lab.centre.models import Cell, Organisation, Submission
from lab.errors import InputError
from lab.settings import Settings

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def settings(tmp_path):
    return Settings(database_url=f"sqlite:///{tmp_path / 'centre.db'}", storage=tmp_path / "storage",
                    cell_attempts=3, heartbeat_s=5, lost_after_s=60)


@pytest.fixture
def session(settings):
    engine = open_catalogue(settings.database_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def submit(session: Session, targets=("debian12-x86_64",), org: str = "acme") -> tuple[Submission, list[Cell]]:
    o = session.scalar(select(Organisation).where(Organisation.name == org))
    if o is None:
        o = Organisation(name=org, created=T0)
        session.add(o)
        session.flush()
    sub = Submission(id=str(uuid.uuid4()), org_id=o.id, product="acme-calc", version="0.9.0", vendor="ACME",
                     run_id="20261130-120000-acme-calc", archive_sha256="0" * 64, artifacts=[], suites=["install"],
                     state="queued", published=False, created=T0)
    session.add(sub)
    cells = ledger.plan_cells(session, sub, list(targets))
    session.commit()
    return sub, cells


def attempts_of(session: Session, cell: Cell) -> list[Cell]:
    return list(session.scalars(select(Cell).where(Cell.submission_id == cell.submission_id,
                                                   Cell.target == cell.target).order_by(Cell.attempt)))


def test_plan_claim_finish_one_result(session, settings):
    sub, (cell,) = submit(session)
    assert ledger.cell_views(session, sub.id) == [
        {"target": "debian12-x86_64", "state": "queued", "verdict": None, "reason": "", "attempts": 1}]
    assert ledger.submission_state(session, sub) == "queued"
    c = ledger.claim(session, cell.id, "w1", settings, now=at(0))
    session.commit()
    assert c.attempt_cell.state == "running" and c.attempt_cell.worker == "w1" and len(c.credential) >= 32
    assert c.attempt_cell.credential_sha256 == ledger.hash_credential(c.credential)  # only the hash is kept
    assert sub.state == "running" and ledger.cell_views(session, sub.id)[0]["state"] == "running"
    ledger.heartbeat(session, cell.id, c.credential, now=at(30))
    done = ledger.finish(session, cell.id, c.credential, "passed", "", "submissions/x/cells/debian12-x86_64",
                         now=at(40))
    session.commit()
    assert done.state == "passed" and sub.state == "finished" and sub.finished is not None
    assert ledger.cell_views(session, sub.id) == [
        {"target": "debian12-x86_64", "state": "done", "verdict": "passed", "reason": "", "attempts": 1}]
    with pytest.raises(ledger.CellDone):  # exactly one final result
        ledger.finish(session, cell.id, c.credential, "failed", "again", None, now=at(41))
    with pytest.raises(ledger.CellDone):  # a done cell is not claimed again
        ledger.claim(session, cell.id, "w2", settings, now=at(500))
    assert [a.state for a in attempts_of(session, cell)] == ["passed"]


def test_only_the_current_attempts_credential_finishes(session, settings):
    _, (cell,) = submit(session)
    c = ledger.claim(session, cell.id, "w1", settings, now=at(0))
    for wrong in ("", "x" * 43, c.credential[:-1] + ("A" if c.credential[-1] != "A" else "B")):
        with pytest.raises(ledger.BadCredential):
            ledger.finish(session, cell.id, wrong, "passed", "", None, now=at(1))
        with pytest.raises(ledger.BadCredential):
            ledger.heartbeat(session, cell.id, wrong, now=at(1))
    with pytest.raises(InputError):
        ledger.finish(session, cell.id, c.credential, "great", "", None, now=at(1))
    assert ledger.attempt_of(session, cell.id, c.credential).id == c.attempt_cell.id


def test_a_redelivery_while_the_worker_lives_does_not_start_a_second_run(session, settings):
    _, (cell,) = submit(session)
    ledger.claim(session, cell.id, "w1", settings, now=at(0))
    session.commit()
    for who, when in (("w2", 10), ("w1", 50), ("w2", 60)):  # a broker restart re-delivers to anyone
        with pytest.raises(ledger.CellBusy) as busy:
            ledger.claim(session, cell.id, who, settings, now=at(when))
        assert busy.value.retry_after >= 1
        session.rollback()
    assert [(a.attempt, a.state, a.worker) for a in attempts_of(session, cell)] == [(1, "running", "w1")]


def test_a_lost_worker_is_taken_over_then_the_attempts_run_out(session, settings):
    sub, (cell,) = submit(session)
    first = ledger.claim(session, cell.id, "w1", settings, now=at(0))
    second = ledger.claim(session, cell.id, "w2", settings, now=at(61))  # w1's heartbeat is stale
    session.commit()
    assert second.attempt_cell.attempt == 2 and second.attempt_cell.worker == "w2"
    with pytest.raises(ledger.Superseded):  # the lost worker's late upload is refused
        ledger.finish(session, cell.id, first.credential, "passed", "", "late", now=at(62))
    with pytest.raises(ledger.Superseded):
        ledger.heartbeat(session, cell.id, first.credential, now=at(62))
    third = ledger.claim(session, cell.id, "w1", settings, now=at(200))
    session.commit()
    assert third.attempt_cell.attempt == 3
    with pytest.raises(ledger.AttemptsUsed):
        ledger.claim(session, cell.id, "w2", settings, now=at(400))
    session.commit()  # the API commits before answering 410
    rows = attempts_of(session, cell)
    assert [(a.attempt, a.state, a.reason) for a in rows] == [
        (1, "broken", "worker w1 lost"), (2, "broken", "worker w2 lost"), (3, "broken", "worker w1 lost")]
    assert ledger.cell_views(session, sub.id) == [
        {"target": "debian12-x86_64", "state": "done", "verdict": "broken", "reason": "worker w1 lost",
         "attempts": 3}]
    assert sub.state == "finished"
    with pytest.raises(ledger.CellDone):
        ledger.claim(session, cell.id, "w3", settings, now=at(500))
    with pytest.raises(ledger.Superseded):
        ledger.finish(session, cell.id, second.credential, "passed", "", None, now=at(500))


def test_any_attempts_id_names_the_cell(session, settings):
    _, (cell,) = submit(session)
    ledger.claim(session, cell.id, "w1", settings, now=at(0))
    second = ledger.claim(session, cell.id, "w2", settings, now=at(100))
    session.commit()
    assert ledger.current(session, cell.id).id == second.attempt_cell.id
    assert ledger.current(session, second.attempt_cell.id).id == second.attempt_cell.id
    with pytest.raises(ledger.UnknownCell):
        ledger.claim(session, 999_999, "w1", settings)


def test_the_sweep_takes_over_lost_cells_once(session, settings):
    _, (a, b) = submit(session, targets=("debian12-x86_64", "debian13-x86_64"))
    ca = ledger.claim(session, a.id, "w1", settings, now=at(0))
    ledger.claim(session, b.id, "w2", settings, now=at(0))
    ledger.heartbeat(session, a.id, ca.credential, now=at(50))
    session.commit()
    assert [c.id for c in ledger.lost(session, settings, now=at(100))] == [b.id]
    new = ledger.take_over(session, b.id, settings, now=at(100))
    session.commit()
    assert new is not None and new.attempt == 2 and new.state == "queued"
    assert ledger.take_over(session, b.id, settings, now=at(101)) is None  # twice: nothing more
    assert ledger.lost(session, settings, now=at(100)) == []
    assert [x.reason for x in attempts_of(session, b)] == ["worker w2 lost", ""]


def test_a_worker_stopped_gives_its_cell_back(session, settings):
    _, (cell,) = submit(session)
    c = ledger.claim(session, cell.id, "w1", settings, now=at(0))
    nxt = ledger.release(session, cell.id, c.credential, "SIGTERM", settings, now=at(5))
    session.commit()
    assert nxt.attempt == 2 and nxt.state == "queued"
    assert attempts_of(session, cell)[0].reason == "worker w1 stopped: SIGTERM"
    d = ledger.claim(session, cell.id, "w2", settings, now=at(6))
    assert d.attempt_cell.attempt == 2


def test_requeue_a_broken_cell_only(session, settings):
    sub, (cell,) = submit(session)
    c = ledger.claim(session, cell.id, "w1", settings, now=at(0))
    with pytest.raises(InputError, match="only a broken cell"):
        ledger.requeue(session, cell.id)
    ledger.finish(session, cell.id, c.credential, "broken", "lab.worker: image missing", "r1", now=at(5))
    session.commit()
    new = ledger.requeue(session, cell.id, now=at(10))
    session.commit()
    assert new.attempt == 2 and new.state == "queued" and sub.state == "queued" and sub.finished is None
    d = ledger.claim(session, cell.id, "w2", settings, now=at(11))
    ledger.finish(session, cell.id, d.credential, "passed", "", "r2", now=at(20))
    session.commit()
    rows = attempts_of(session, cell)
    assert [(r.state, r.results) for r in rows] == [("broken", "r1"), ("passed", "r2")]
    assert ledger.cell_views(session, sub.id)[0] == {"target": "debian12-x86_64", "state": "done",
                                                     "verdict": "passed", "reason": "", "attempts": 2}
    sub.published = True
    session.commit()
    with pytest.raises(InputError):
        ledger.requeue(session, cell.id)


def test_requeue_after_the_attempts_ran_out_gives_one_more(session, settings):
    _, (cell,) = submit(session)
    for i, w in enumerate(("w1", "w2", "w3")):
        ledger.claim(session, cell.id, w, settings, now=at(100 * i))
    with pytest.raises(ledger.AttemptsUsed):
        ledger.claim(session, cell.id, "w4", settings, now=at(400))
    session.commit()
    ledger.requeue(session, cell.id, now=at(500))
    ledger.claim(session, cell.id, "w4", settings, now=at(501))
    with pytest.raises(ledger.AttemptsUsed):  # a requeued attempt lost: broken at once
        ledger.claim(session, cell.id, "w5", settings, now=at(700))


def test_a_board_runs_one_cell_at_a_time(session, settings):
    _, (a,) = submit(session, targets=("board-debian12-x86_64",))
    _, (b,) = submit(session, targets=("board-debian12-x86_64",), org="other")
    ca = ledger.claim(session, a.id, "w1", settings, exclusive=True, now=at(0))
    session.commit()
    with pytest.raises(ledger.CellBusy, match="board board-debian12-x86_64"):
        ledger.claim(session, b.id, "w2", settings, exclusive=True, now=at(1))
    session.rollback()
    assert ledger.current(session, b.id).state == "queued"
    ledger.finish(session, a.id, ca.credential, "passed", "", "r", now=at(30))
    session.commit()
    assert ledger.claim(session, b.id, "w2", settings, exclusive=True, now=at(31)).attempt_cell.state == "running"


def test_stuck_lists_queued_cells_no_live_worker_serves(session, settings):
    _, (board, _) = submit(session, targets=("board-debian12-x86_64", "debian12-x86_64"))
    ledger.register_worker(session, "w1", ["debian12-x86_64"], 2, now=at(0))
    ledger.register_worker(session, "w2", ["board-debian12-x86_64"], 1, now=at(-600))  # long gone
    session.commit()
    assert [w.name for w in ledger.live_workers(session, settings, now=at(10))] == ["w1"]
    found = ledger.stuck(session, settings, now=at(10))
    assert list(found) == ["board-debian12-x86_64"] and [c.id for c in found["board-debian12-x86_64"]] == [board.id]
    ledger.register_worker(session, "w2", ["board-debian12-x86_64"], 1, now=at(10))
    assert ledger.stuck(session, settings, now=at(11)) == {}


def test_naive_datetimes_from_sqlite_are_utc(session, settings):
    _, (cell,) = submit(session)
    ledger.claim(session, cell.id, "w1", settings, now=at(0))
    session.commit()
    session.expire_all()
    assert ledger.lost(session, settings, now=at(61))[0].id == cell.id
    assert ledger.overdue(ledger.current(session, cell.id), now=at(61)) == timedelta(seconds=61)
