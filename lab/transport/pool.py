"""The persistent shells of one transport, one per concurrent caller (``lab.transport.shell``'s
``PersistentShell``): two threads never interleave frames on one pipe, a dead shell is replaced,
and a shell killed by what ran on a target that still answers is said to be the product's doing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lab.errors import CommandTimeout, ConnectionLost, InfrastructureError, LabError, ProductFailure
from lab.transport.base import OUTPUT_MAX_BYTES, CommandResult
from lab.transport.channel import Channel
from lab.transport.shell import PersistentShell

ANSWER_S = 10.0  # for a fresh shell's first command, when the last one died mid-command


class ShellPool:
    """The persistent shells of one transport: one per concurrent caller, so two threads never
    interleave frames on one pipe; a dead shell is closed and the next caller gets a new one."""

    def __init__(self, name: str, open_channel: Callable[[], Channel]):
        self.name = name
        self._open = open_channel
        self._idle: list[PersistentShell] = []
        self._all: list[PersistentShell] = []
        self._lock = threading.Lock()
        self._closed = False

    def run(self, command: str, timeout: float, output_max_bytes: int = OUTPUT_MAX_BYTES) -> CommandResult:
        shell = self._take()
        try:
            return shell.run(command, timeout, output_max_bytes)
        except ConnectionLost:
            # Commands share the shell's process group, so a script's `kill -9 0` (or `kill -9 -1`, or
            # a daemon it left that kills the lab's processes) ends the shell. When the shell's own
            # process ended on the target and a new one answers, the target is fine: what ran there
            # killed the lab's shell, which is the product's doing, not a lost connection.
            if shell.channel.shell_ended() and self._answers():
                raise ProductFailure(
                    f"{self.name}: the lab's shell on the target was killed while it ran `{command[:300]}` "
                    "(something on the target killed its process group or every process, e.g. a script's "
                    "`kill -9 0`); the target itself still answers") from None
            raise
        except BaseException as exc:
            if not isinstance(exc, LabError):
                # Interrupted mid-frame (Ctrl-C, a worker told to stop): the command may still run
                # in this shell, so no later command (a teardown's) may wait behind it.
                shell.close()
            raise
        finally:
            self._give_back(shell)

    def _answers(self) -> bool:
        """A fresh shell starts and runs a command (the target, its container or board, is up)."""
        try:
            probe = PersistentShell(self._open(), self.name)
        except (InfrastructureError, OSError):
            return False
        try:
            return probe.run("true", ANSWER_S).ok
        except (InfrastructureError, CommandTimeout, OSError):
            return False
        finally:
            probe.close()

    def _take(self) -> PersistentShell:
        with self._lock:
            if self._closed:
                raise InfrastructureError(f"{self.name}: transport already closed")
            while self._idle:
                shell = self._idle.pop()
                if not shell.dead:
                    return shell
        shell = PersistentShell(self._open(), self.name)
        with self._lock:
            self._all.append(shell)
        return shell

    def _give_back(self, shell: PersistentShell) -> None:
        with self._lock:
            if shell.dead or self._closed:
                shell.close()
                if shell in self._all:
                    self._all.remove(shell)
            else:
                self._idle.append(shell)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            shells, self._all, self._idle = self._all, [], []
        for shell in shells:
            shell.close()
