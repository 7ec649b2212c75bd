"""The service's reliability against the real engines: PostgreSQL and RabbitMQ (the session's
``engines``), the worker API under uvicorn and ``lab worker`` processes running real cells
(``examples/acme-calc`` on debian12-x86_64, the install suite only, to keep each cell short).

- a worker killed (SIGKILL, with everything below it) mid-cell: the cell runs again on the other
  worker, or ends broken "worker NAME lost" once the attempts are used up; one final result;
  nothing of the killed run is left running;
- RabbitMQ restarted while cells are queued and running: none lost, none run twice;
- a queued cell's message lost by the broker (its queue purged): published again, run once;
- the API restarted mid-run: the worker's upload is retried and lands;
- a board is never used by two cells at once, even when two workers both declare it.

Each test has a database and a RabbitMQ vhost of its own; every process it starts is killed at
its end.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from lab.engine import LABEL_RUN, client
from tests.conftest import ROOT
from tests.integration.centre_service import Centre, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"
BOARD = "board-debian12-x86_64"


@pytest.fixture(scope="module")
def acme_calc(built) -> Path:
    built(T)
    folder = ROOT / "examples" / "acme-calc"
    if not list(folder.glob("*.deb")):
        from examples.build import acme_calc as build

        build()
    return folder


@pytest.fixture(scope="module")
def acme_hello(built) -> Path:
    """For the board: its only dependency (libc6) is on the board already; a simulated board has no
    way out to a mirror."""
    built(T)
    folder = ROOT / "examples" / "acme-hello"
    if not list(folder.glob("*.deb")):
        from examples.build import acme_hello as build

        build()
    return folder


@pytest.fixture
def make_centre(engines, tmp_path):
    pg, rabbit = engines
    made: list[Centre] = []

    def make(**settings) -> Centre:
        c = Centre(pg, rabbit, tmp_path / f"centre{len(made)}", **settings)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def containers_of(run: str) -> list[str]:
    return [c.name for c in client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"})]


def wait_running(c: Centre, sid: str, timeout: float = 120) -> tuple[str, int]:
    """Wait until the cell runs and its target container is up; (worker, attempt cell id)."""
    worker, cell_id = wait_for("the cell starts", lambda: c.running_on(sid), timeout, on_timeout=c.tails)
    run = f"{c.run_id(sid)}.c{cell_id}"
    wait_for("the cell's container is up", lambda: containers_of(run), timeout, on_timeout=c.tails)
    return worker, cell_id


def results_of(c: Centre, sid: str, target: str) -> dict:
    return json.loads((c.settings.storage / "submissions" / sid / "cells" / target / "verdicts.json").read_text())


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_cell_runs_again_elsewhere_with_one_result(make_centre, acme_calc):
    c = make_centre(heartbeat_s=1, lost_after_s=6, cell_attempts=2)
    c.start_api()
    c.start_worker("w1", [T])
    c.start_worker("w2", [T])
    sid = c.submit(acme_calc, [T], suites=["install"])
    worker, cell_id = wait_running(c, sid)
    run = f"{c.run_id(sid)}.c{cell_id}"
    time.sleep(2)  # inside the install
    c.kill_worker(worker)  # the worker, its pool and the harness's pytest below it: a host lost
    other = ({"w1", "w2"} - {worker}).pop()
    c.wait_finished(sid, timeout=200)
    rows = c.attempts(sid)
    assert [r[:5] for r in rows] == [(T, 1, "broken", worker, f"worker {worker} lost"),
                                     (T, 2, "passed", other, "")], c.tails()
    assert [r[5] for r in rows if r[5]] == [f"submissions/{sid}/cells/{T}"]  # exactly one result
    assert c.views(sid) == [{"target": T, "state": "done", "verdict": "passed", "reason": "", "attempts": 2}]
    v = results_of(c, sid, T)
    assert v["run"] == c.run_id(sid) and v["targets"][T]["verdict"] == "passed"
    assert (c.settings.storage / "submissions" / sid / "cells" / T / "certificates" / f"{T}.json").exists()
    # the killed run's containers are removed by the surviving worker (their owner is gone)
    wait_for("the killed run's containers are removed", lambda: not containers_of(run), 60, on_timeout=c.tails)


@pytest.mark.timeout(240)
def test_a_worker_killed_on_the_last_attempt_leaves_the_cell_broken_for_good(make_centre, acme_calc):
    c = make_centre(heartbeat_s=1, lost_after_s=5, cell_attempts=1)
    c.start_api()
    c.start_worker("w1", [T])
    sid = c.submit(acme_calc, [T], suites=["install"])
    _, cell_id = wait_running(c, sid)
    run = f"{c.run_id(sid)}.c{cell_id}"
    c.kill_worker("w1")
    c.start_worker("w2", [T])  # its hello sweeps the lost cell; the re-delivered task finds it done
    c.wait_finished(sid, timeout=120)
    rows = c.attempts(sid)
    assert [r[:5] for r in rows] == [(T, 1, "broken", "w1", "worker w1 lost")], c.tails()
    assert c.views(sid) == [{"target": T, "state": "done", "verdict": "broken", "reason": "worker w1 lost",
                             "attempts": 1}]
    wait_for("the killed run's containers are removed", lambda: not containers_of(run), 60, on_timeout=c.tails)
    time.sleep(3)  # the re-delivered message is dropped, not run
    assert len(c.attempts(sid)) == 1


@pytest.mark.timeout(240)
def test_a_worker_stopped_with_sigterm_removes_its_containers_and_gives_the_cell_back(make_centre, acme_calc):
    c = make_centre(heartbeat_s=1, lost_after_s=60)
    c.start_api()
    c.start_worker("w1", [T])
    sid = c.submit(acme_calc, [T], suites=["install"])
    _, cell_id = wait_running(c, sid)
    run = f"{c.run_id(sid)}.c{cell_id}"
    assert c.stop_worker("w1", timeout=150) == 0, c.tails()
    assert containers_of(run) == []
    rows = c.attempts(sid)
    assert [r[:4] for r in rows] == [(T, 1, "broken", "w1"), (T, 2, "queued", None)], c.tails()
    assert rows[0][4].startswith("worker w1 stopped: ")
    assert c.views(sid)[0]["state"] == "queued"


@pytest.mark.timeout(120)
def test_a_worker_without_the_centres_worker_token_is_refused_and_takes_nothing(make_centre, acme_calc):
    c = make_centre(heartbeat_s=1, lost_after_s=60)
    c.start_api()
    sid = c.submit(acme_calc, [T], suites=["install"])
    intruder = c.start_worker("intruder", [T], wait=False, env={"LAB_WORKER_TOKEN": "guessed"})
    assert intruder.wait(timeout=60) == 2, c.tail("intruder")
    assert "worker token is missing or wrong" in c.tail("intruder")
    assert [r[:3] for r in c.attempts(sid)] == [(T, 1, "queued")]


@pytest.mark.timeout(400)
def test_rabbitmq_restarted_with_cells_queued_and_running_loses_none_and_runs_none_twice(
        make_centre, acme_calc, engines):
    _, rabbit = engines
    c = make_centre(heartbeat_s=1, lost_after_s=60)
    c.start_api()
    c.start_worker("w1", [T])
    c.start_worker("w2", [T])
    sids = [c.submit(acme_calc, [T], org=org, suites=["install"]) for org in ("acme", "beta", "gamma")]

    def two_running():
        return sum(1 for s in sids if c.running_on(s)) == 2
    wait_for("two cells run, one is queued", two_running, 120, on_timeout=c.tails)
    rabbit.stop()
    time.sleep(2)
    rabbit.start()
    c.wait_finished(*sids, timeout=300)
    for sid in sids:
        rows = c.attempts(sid)
        assert [r[:3] for r in rows] == [(T, 1, "passed")], (rows, c.tails())
        assert results_of(c, sid, T)["targets"][T]["verdict"] == "passed"
    time.sleep(3)  # the re-delivered copies find their cells done and are dropped
    assert all(len(c.attempts(s)) == 1 for s in sids)


@pytest.mark.timeout(300)
def test_a_queued_cell_whose_message_the_broker_lost_is_published_again_and_runs_once(make_centre, acme_calc,
                                                                                      engines):
    _, rabbit = engines
    c = make_centre(heartbeat_s=1, republish_after_s=2)
    c.start_api()
    sid = c.submit(acme_calc, [T], suites=["install"])

    def waiting() -> str:
        out = rabbit.ctl("list_queues", "-p", c.vhost, "--no-table-headers", "-q", "name", "messages").stdout
        return dict(line.split() for line in out.splitlines() if line.strip()).get(f"target.{T}", "0")
    assert waiting() == "1"
    rabbit.ctl("purge_queue", "-p", c.vhost, f"target.{T}")  # the broker loses the message
    assert waiting() == "0"
    time.sleep(2.5)
    c.start_worker("w1", [T])  # its hello sweeps: the queue is empty, the cell queued -> published again
    c.wait_finished(sid, timeout=180)
    assert [r[:3] for r in c.attempts(sid)] == [(T, 1, "passed")], c.tails()
    assert "published again" in c.tail("api"), c.tails()


@pytest.mark.timeout(300)
def test_the_api_restarted_mid_run_gets_the_upload_it_missed(make_centre, acme_calc):
    c = make_centre(heartbeat_s=1, lost_after_s=90)
    c.start_api()
    c.start_worker("w1", [T])
    sid = c.submit(acme_calc, [T], suites=["install"])
    _, cell_id = wait_running(c, sid)
    run = f"{c.run_id(sid)}.c{cell_id}"
    c.stop_api(signal.SIGKILL)
    wait_for("the run ends while the API is down", lambda: not containers_of(run), 150, on_timeout=c.tails)
    wait_for("the worker retries its upload", lambda: "upload failed" in c.tail("w1", 400), 60,
             on_timeout=c.tails)
    assert c.state(sid) != "finished"
    c.start_api()
    c.wait_finished(sid, timeout=120)
    assert [r[:4] for r in c.attempts(sid)] == [(T, 1, "passed", "w1")]
    assert results_of(c, sid, T)["targets"][T]["verdict"] == "passed"


@pytest.fixture(scope="module")
def board(inventory, built):
    from lab.provision import board as boards
    from lab.provision import simulated

    built(T)
    target = inventory.model.get(BOARD)
    with boards.board_lock(BOARD, wait_s=600):  # not in the middle of someone's run
        simulated.up(inventory, target)
    return target


def busy_interval(c: Centre, sid: str) -> tuple[float, float]:
    """When the cell had the board: from its provisioning to its end (events of the run)."""
    events = c.settings.storage / "submissions" / sid / "cells" / BOARD / "logs" / BOARD / "events.jsonl"
    times = {e["event"]: e["t"] for e in map(json.loads, events.read_text().splitlines())}
    return times["provisioning"], times["finished"]


@pytest.mark.timeout(400)
def test_a_board_runs_one_cell_at_a_time_though_two_workers_declare_it(make_centre, acme_hello, board):
    c = make_centre(heartbeat_s=1, lost_after_s=60)
    c.start_api()
    c.start_worker("w1", [BOARD])
    c.start_worker("w2", [BOARD])
    sids = [c.submit(acme_hello, [BOARD], org=org, suites=["install"]) for org in ("acme", "beta")]
    c.wait_finished(*sids, timeout=360)
    for sid in sids:
        rows = c.attempts(sid)
        assert [r[:3] for r in rows] == [(BOARD, 1, "passed")], (rows, c.tails())
    (a0, a1), (b0, b1) = sorted(busy_interval(c, s) for s in sids)
    assert a1 <= b0, f"two cells on {BOARD} at once: {a0:.1f}-{a1:.1f} and {b0:.1f}-{b1:.1f}"
