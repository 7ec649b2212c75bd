"""The report's warm-up waits until every worker running at once is past its install (a matrix's
first worker past it had the controller load WeasyPrint and Allure beside the two installs still
under way, on two cores); where the workers watch their service, until what is left of each watch
is waiting (begun at the install, it took the second core from the checks before the watch)."""

from __future__ import annotations

import threading

from lab.run.finish import QUIET_WATCHING, _wait_for_quiet


def _append(path, line: str) -> None:
    with path.open("a") as fh:
        fh.write(line + "\n")


def _waiting(logs, workers: int, markers=None) -> threading.Thread:
    """The wait in a thread of its own: whether it has returned is the test's question."""
    waiter = threading.Thread(target=_wait_for_quiet, args=(logs, workers, *([markers] if markers else [])),
                              daemon=True)
    waiter.start()
    return waiter


def test_the_warm_up_waits_for_every_running_worker_past_its_install(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "check", "id": "install.idempotent"}\n')
    (tmp_path / "b" / "events.jsonl").write_text('{"event": "check", "id": "install.package"}\n')
    waiter = _waiting(tmp_path, 2)
    waiter.join(0.4)
    assert waiter.is_alive()  # b is still installing
    _append(tmp_path / "b" / "events.jsonl", '{"event": "check", "id": "install.idempotent"}')
    waiter.join(5)
    assert not waiter.is_alive()


def test_a_watching_worker_is_quiet_only_once_the_checks_during_its_watch_are_done(tmp_path):
    (tmp_path / "a").mkdir()
    events = tmp_path / "a" / "events.jsonl"
    events.write_text('{"event": "check", "id": "install.idempotent"}\n{"event": "watch-started"}\n'
                      '{"event": "check", "id": "package.elf_machine"}\n')
    waiter = _waiting(tmp_path, 1, QUIET_WATCHING)
    waiter.join(0.4)
    assert waiter.is_alive()  # past its install, but its package and supply checks still run
    _append(events, '{"event": "watch-waiting"}')
    waiter.join(5)
    assert not waiter.is_alive()


def test_a_watch_that_never_came_still_ends_the_wait(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "events.jsonl").write_text(
        '{"event": "check", "id": "stability.uptime", "outcome": "skipped"}\n')
    _wait_for_quiet(tmp_path, 1, QUIET_WATCHING)  # returns at once (it would wait 300 s otherwise)


def test_one_worker_past_its_install_is_enough_for_a_single_target(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "finished"}\n')
    _wait_for_quiet(tmp_path, workers=1)  # returns at once (it would wait 300 s otherwise)


def test_only_the_runs_own_targets_count_not_a_reruns_earlier_attempts(tmp_path):
    """A rerun's logs folder keeps the earlier attempt (and the kept targets), all of them done."""
    for name in ("a.attempt-1", "kept", "a"):
        (tmp_path / name).mkdir()
    (tmp_path / "a.attempt-1" / "events.jsonl").write_text('{"event": "finished"}\n')
    (tmp_path / "kept" / "events.jsonl").write_text('{"event": "finished"}\n')
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "started"}\n')
    waiter = threading.Thread(target=_wait_for_quiet, args=(tmp_path, 1, QUIET_WATCHING, ["a"]), daemon=True)
    waiter.start()
    waiter.join(0.4)
    assert waiter.is_alive()  # "a" itself has not begun its watch
    _append(tmp_path / "a" / "events.jsonl", '{"event": "watch-waiting"}')
    waiter.join(5)
    assert not waiter.is_alive()


def test_the_wait_ends_when_the_workers_are_done_whatever_their_logs_say(tmp_path):
    """A worker that died before its watch writes no marker: the run's end stops the wait."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "events.jsonl").write_text('{"event": "check", "id": "install.idempotent"}\n')
    over = threading.Event()
    waiter = threading.Thread(target=_wait_for_quiet, args=(tmp_path, 1, QUIET_WATCHING, ["a"], over), daemon=True)
    waiter.start()
    waiter.join(0.4)
    assert waiter.is_alive()
    over.set()
    waiter.join(5)
    assert not waiter.is_alive()
