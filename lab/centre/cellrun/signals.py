"""Stopping a cell's run from outside: ``lab worker`` being stopped (SIGTERM), or the attempt taken
over (the heartbeat thread sends SIGUSR1 to its own process)."""

from __future__ import annotations

import signal
import threading


class Stop(Exception):
    """The run must stop: the worker is being stopped, or the attempt was taken over."""


class Signals:
    """While a cell runs in this (pool) process: SIGTERM and SIGUSR1 stop it. Outside ``execute``
    they raise ``Stop``; inside, ``execute``'s own handling stops the harness's workers cleanly."""

    def __init__(self):
        self.why = ""
        self.in_execute = False
        self.soft = False  # while uploading: only note it, the upload ends on its own
        self.claimed = False
        self.old: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        self.why = self.why or ("the worker is being stopped" if signum == signal.SIGTERM else "taken over")
        if self.in_execute:
            raise KeyboardInterrupt
        if not self.soft:
            raise Stop(self.why)
