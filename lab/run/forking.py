"""The server ``lab run``'s workers are forked from (Python's multiprocessing forkserver).

Started first thing in ``lab run``, it imports what every worker needs once (``lab.run.worker_server``,
``lab.run.preload``) while the controller reads the inventory, the submission and the catalogue: a
worker then starts in a tenth of a second where a fresh Python takes more than one, and three
workers no longer import the same modules three times over on the lab's cores. A forked worker is
a session of its own, its output in its log, its environment the controller's, its process title
the pytest command line it would have had as a process of its own (which is what it is when the
server cannot be used: ``lab.run.worker.start_worker``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import select
import shlex
import signal
import subprocess
import sys
import time

from setproctitle import setproctitle

FORKED = multiprocessing.get_context("forkserver")
NO_SERVER = (OSError, ValueError, AssertionError, EOFError)  # it cannot be started or reached here
STATUS_WAIT_S = 5.0  # for the server's word on a worker's exit code once the worker is gone
GONE = 255  # a worker's exit code when the server that forked it could not say it


def preload() -> None:
    """Start the server the workers are forked from, its imports under way; at once, nothing waits.
    Safe to call again (a server still running is kept)."""
    with contextlib.suppress(Exception):  # without it, each worker is a process of its own
        FORKED.set_forkserver_preload(["lab.run.worker_server"])
        multiprocessing.forkserver.ensure_running()


class Forked:
    """A worker forked from the server, answering what the controller asks of a ``Popen``. Its
    process is held by a pidfd (never a pid that a new process could take once it ended); its exit
    code is the server's word, which reaps it."""

    def __init__(self, process):
        self._process = process
        self.pid = process.pid
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(process.pid)
        except ProcessLookupError:  # it ended, and was reaped, already
            self._pidfd = None
            self._ended()

    def _ended(self) -> None:
        self._process.join(STATUS_WAIT_S)
        code = self._process.exitcode
        self.returncode = code if code is not None else GONE
        if self._pidfd is not None:
            os.close(self._pidfd)

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            select.select([self._pidfd], [], [], left)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def run_pytest(args: list[str], log: str, env: dict[str, str]) -> None:
    """A forked worker: a session of its own (a terminal's Ctrl-C reaches the controller only), its
    output in its log, its environment the controller's; then pytest, as ``python -m pytest``."""
    os.setsid()
    out = os.open(log, os.O_WRONLY | os.O_APPEND)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    os.environ.clear()
    os.environ.update(env)
    # as ps showed it when it was a process of its own, which target first: the title has only the
    # server's command line and environment's room (a review's cron-like environment cut it short)
    first = [a for a in args if a.startswith(("--lab-target=", "--lab-run=", "--lab-out="))]
    setproctitle(shlex.join([sys.executable, "-m", "pytest", *first, *(a for a in args if a not in first)]))
    import pytest

    raise SystemExit(int(pytest.main(args)))


def fork_pytest(args: list[str], log: str, env: dict[str, str], name: str) -> Forked | None:
    """``run_pytest(args, log, env)`` forked from the server; None when there is no usable server."""
    try:
        preload()
        process = FORKED.Process(target=run_pytest, args=(args, log, env), name=name)
        process.start()
    except NO_SERVER:
        return None
    return Forked(process)


def _nothing() -> None:
    """Forked to learn that the server is past its imports (``server_ready``)."""


def server_ready() -> None:
    """Wait until the server is past its imports, by forking a process that does nothing: a
    worker's own request is then answered at once (``lab.run.controller.deferred_interrupts`` relies on it).
    Interrupted here (a Ctrl-C or a SIGTERM while the server still imports), the request left
    queued forks only this, never a worker the controller does not know of (a review's SIGTERM at a
    run's start had a worker run after verdicts.json, its container removed under it). Without a
    usable server this returns at once (``start_worker`` then starts a process of its own)."""
    try:
        preload()
        ping = FORKED.Process(target=_nothing, name="lab worker server: ready?")
        ping.start()
    except NO_SERVER:
        return
    ping.join()

