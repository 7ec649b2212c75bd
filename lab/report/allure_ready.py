"""Allure's generator started before its results exist, so the end of a run does not wait for Node.js.

Allure 3 spends about a second loading its own modules before it reads a single result (``allure
--version`` alone takes 1.2 s on this class of machine; the report itself a few tenths). ``lab run``
starts it while the workers run (``allure_ready.mjs``: Allure's own entry point, its modules loaded,
waiting on its standard input for the command line); ``render`` hands it the arguments once the
results are complete, and it runs them exactly as ``allure ARGS`` would. One process, asked once.

A process that is never asked (``--no-report``, an interrupted run, a report that failed before
Allure) ends when the lab's end of its pipe closes, which the lab's own exit does too, however it
ends; ``discard`` closes it sooner.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent  # where package.json installs Allure
SCRIPT = Path(__file__).with_name("allure_ready.mjs")


def allure_env() -> dict[str, str]:
    """Allure asks git where it runs (the checkout's folder name, branch and remote) and writes the
    answers into the report as its "CI": a vendor's report would carry the lab's own checkout. No
    repository is found here, so those stay empty (and its four git commands end at once)."""
    return {**os.environ, "GIT_DIR": "/nonexistent/lab-report-has-no-repository", "GIT_CEILING_DIRECTORIES": "/"}


class Ready:
    """A started generator and the file its output goes to."""

    def __init__(self, proc: subprocess.Popen, log: IO[bytes]):
        self.proc, self.log = proc, log

    def ask(self, args: list[str]) -> bool:
        """Run ``allure ARGS``; False when it can no longer be asked (it ended: say, Node.js failed)."""
        if self.proc.poll() is not None:
            return False
        try:
            self.proc.stdin.write(json.dumps(args).encode())
            self.proc.stdin.close()
        except OSError:  # it ended meanwhile
            return False
        return True

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # it reads nothing and ends by itself
        self.log.close()


_lock = threading.Lock()
_started: Ready | None = None


def prestart() -> None:
    """Start this process's generator ahead (once); nothing when Allure or Node.js is not installed
    here (``render`` then installs and starts it the usual way, and says what is missing)."""
    global _started
    allure, node = ROOT / "node_modules" / "allure", shutil.which("node")
    if node is None or not (allure / "dist" / "index.js").exists():
        return
    with _lock:
        if _started is not None:
            return
        log = tempfile.TemporaryFile()  # noqa: SIM115 (the generator's, closed by render or discard)
        try:
            proc = subprocess.Popen([node, str(SCRIPT), str(allure)], cwd=ROOT, stdin=subprocess.PIPE, stdout=log,
                                    stderr=subprocess.STDOUT, env=allure_env())
        except OSError:
            log.close()
            return
        _started = Ready(proc, log)


def take() -> Ready | None:
    """The generator started ahead, for one report; None when there is none (then start one)."""
    global _started
    with _lock:
        ready, _started = _started, None
    return ready
