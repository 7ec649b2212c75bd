"""One worker per target: a pytest session over the suites, in its own process.

A process per target keeps targets apart (a crash or hang in one cannot take the others), lets
them run truly in parallel, and gives each its own pytest and Allure state.

The processes are forked from a server that imported what every worker needs once
(``lab.run.preload``), started at the beginning of ``lab run`` so that its imports go on while the
controller reads the inventory, the submission and the catalogue: a worker then starts in a tenth
of the second or more a fresh Python takes, and three workers no longer import the same modules
three times over on the lab's cores. Each forked worker is a session of its own, its output in its
log, its environment the controller's, exactly as a worker started as a new process (which is what
happens when the server cannot be used).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.forkserver
import os
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from setproctitle import setproctitle

from lab.run.plan import Plan
from lab.suite.registry import suite_files, suites_dir

FORKED = multiprocessing.get_context("forkserver")
STATUS_WAIT_S = 5.0  # for the server's word on a worker's exit code once the worker is gone
GONE = 255  # a worker's exit code when the server that forked it could not say it


@dataclass
class Worker:
    target: str
    proc: subprocess.Popen | Forked
    log: Path
    started: float = field(default_factory=time.monotonic)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


# The only plugins a worker needs, named: entry-point plugins are not loaded (the scan of every
# installed distribution, and plugins such as anyio's that import their machinery at start-up), and
# only these two modules are marked for assertion rewriting, whatever folder the run starts in.
PLUGINS = ("lab.plugin", "allure_pytest.plugin")


def worker_args(plan: Plan, target: str, inventory: Path, submission: Path,
                digests: dict[str, str] | None = None) -> list[str]:
    """pytest's arguments for a worker."""
    folder = suites_dir()
    return [*suite_files(), "-c", str(folder / "pytest.ini"),
            "--rootdir", str(folder), "-v", "--tb=short", *(a for p in PLUGINS for a in ("-p", p)),
            f"--lab-target={target}", f"--lab-inventory={inventory}", f"--lab-submission={submission}",
            f"--lab-digests={json.dumps(digests or {})}",
            f"--lab-run={plan.run_id}", f"--lab-out={plan.out}", f"--lab-suites={','.join(plan.suites)}",
            f"--alluredir={plan.out / 'allure-results'}"]


def worker_command(plan: Plan, target: str, inventory: Path, submission: Path,
                   digests: dict[str, str] | None = None) -> list[str]:
    """The worker as a process of its own (bench/startup.py times this one); run it with ``worker_env()``."""
    return [sys.executable, "-m", "pytest", *worker_args(plan, target, inventory, submission, digests)]


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


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


def _forked_main(args: list[str], log: str, env: dict[str, str]) -> None:
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


def _nothing() -> None:
    """Forked to learn that the server is past its imports (``_server_ready``)."""


def server_ready() -> None:
    """Wait until the server is past its imports, by forking a process that does nothing: a
    worker's own request is then answered at once, which ``deferred_interrupts`` relies on.
    Interrupted here (a Ctrl-C or a SIGTERM while the server still imports), the request left
    queued forks only this, never a worker the controller does not know of (a review's SIGTERM at a
    run's start had a worker run after verdicts.json, its container removed under it). Without a
    usable server this returns at once (``start_worker`` then starts a process of its own)."""
    try:
        preload()
        ping = FORKED.Process(target=_nothing, name="lab worker server: ready?")
        ping.start()
    except (OSError, ValueError, AssertionError, EOFError):
        return
    ping.join()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A Ctrl-C or SIGTERM that arrives in the block is acted on when it ends (its handler then runs,
    as if it came then): the controller starts a worker and counts it among the running in one,
    so no worker runs that it does not stop. Outside the main thread, where signals are not this
    code's to take, the block runs as it is."""
    got: list[int] = []
    try:
        old = {s: signal.signal(s, lambda signum, _frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if got:
            signal.raise_signal(got[0])


def start_worker(plan: Plan, target: str, inventory: Path, submission: Path,
                 digests: dict[str, str] | None = None) -> Worker:
    """``submission``: the controller's checked, unpacked folder (never the archive again), with the
    artifacts' ``digests`` it computed, so no worker unpacks or hashes what the controller did."""
    logs = plan.out / "logs" / target
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "pytest.log"
    log.write_bytes(b"")
    args = worker_args(plan, target, inventory, submission, digests)
    try:
        preload()
        process = FORKED.Process(target=_forked_main, args=(args, str(log), worker_env()),
                                 name=f"worker {target}")
        process.start()
    except (OSError, ValueError, AssertionError, EOFError):  # no server: a process of its own
        pass
    else:
        return Worker(target, Forked(process), log)
    with log.open("wb") as fh:
        # A session of its own: a terminal Ctrl-C reaches the controller only, which then stops
        # each worker once, so a second SIGINT cannot cut short a worker's teardown.
        proc = subprocess.Popen(worker_command(plan, target, inventory, submission, digests), stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env=worker_env())
    return Worker(target, proc, log)
