"""Workers forked from the server that imported their modules once (lab.run.forking, lab.run.preload):
a real fork server, real pytest sessions in it; what the controller relies on of a worker process."""

from __future__ import annotations

import os
import signal
import time

import pytest

from lab.run import preload
from lab.run.forking import FORKED, Forked, run_pytest
from lab.run.worker import PLUGINS, worker_env
from lab.suite.registry import suite_files

SLOW_TEST = """
import os, time
def test_waits():
    open(os.environ["MARK"], "w").write(str(os.getsid(0)))
    time.sleep(60)
"""

FAILING_TEST = """
import os
def test_fails():
    assert os.environ["LAB_FORK_PROBE"] == "seen"
    answer = 41
    assert answer + 1 == 43
"""


def forked(tmp_path, source: str, **env: str) -> tuple[Forked, os.PathLike]:
    test = tmp_path / "test_probe.py"
    test.write_text(source)
    log = tmp_path / "pytest.log"
    log.write_bytes(b"")
    process = FORKED.Process(target=run_pytest, args=([str(test), "-p", "no:cacheprovider", "--rootdir",
                                                         str(tmp_path)], str(log), {**worker_env(), **env}))
    process.start()
    return Forked(process), log


def wait_for(path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)


def test_what_is_imported_ahead_leaves_the_plugins_and_suites_to_pytest():
    """Modules imported before pytest cannot have their asserts rewritten: the plugins and the
    suites' own modules are pytest's to import; what they import is taken ahead."""
    names = preload.modules()
    assert not set(PLUGINS) & set(names)
    assert not [n for n in names if n.startswith("suites.test_")]
    assert "lab.suite.session" in names  # the plugin's own import
    assert "_pytest.python" in names      # one of pytest's plugins
    # every suite's top-level imports are in, in the order read
    for path in suite_files():
        assert all(n in names or n.startswith("suites.test_") for n in preload.imported_by(path))


def test_a_forked_worker_reports_its_exit_code_output_and_environment(tmp_path):
    worker, log = forked(tmp_path, FAILING_TEST, LAB_FORK_PROBE="seen")
    assert worker.wait(timeout=60) == 1  # pytest: a test failed
    text = log.read_text()
    # the test file's assert was rewritten by pytest in the worker: the values are shown
    assert "assert (41 + 1) == 43" in text and "1 failed" in text
    assert worker.poll() == 1


def test_a_forked_worker_is_a_session_of_its_own_and_stops_on_sigint(tmp_path):
    mark = tmp_path / "sid"
    worker, log = forked(tmp_path, SLOW_TEST, MARK=str(mark))
    wait_for(mark)
    assert int(mark.read_text()) == worker.pid != os.getsid(0)  # a terminal's Ctrl-C does not reach it
    assert worker.poll() is None
    with pytest.raises(Exception, match="worker"):
        worker.wait(timeout=0.2)
    worker.send_signal(signal.SIGINT)  # what the controller sends first: pytest ends the session
    assert worker.wait(timeout=30) == 2
    assert "KeyboardInterrupt" in log.read_text()
    worker.send_signal(signal.SIGINT)  # once ended, a signal goes nowhere (never to a new process)


def test_a_forked_worker_killed_says_so(tmp_path):
    mark = tmp_path / "sid"
    worker, _ = forked(tmp_path, SLOW_TEST, MARK=str(mark))
    wait_for(mark)
    worker.kill()
    assert worker.wait(timeout=30) == -signal.SIGKILL  # as Popen says it


def test_an_interrupt_while_a_worker_starts_is_acted_on_once_it_is_counted():
    """The controller starts a worker and puts it among the running in one block: a Ctrl-C in it
    comes out after the block, the worker counted (and so stopped), never between."""
    from lab.run.controller import deferred_interrupts

    running = {}

    def start_and_count() -> None:
        with deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            running["target"] = "worker"  # still done: the interrupt waits for the block's end

    with pytest.raises(KeyboardInterrupt):
        start_and_count()
    assert running == {"target": "worker"}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was

