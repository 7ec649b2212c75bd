"""A persistent shell on a target, with framing, so a command costs a pipe write, not a process.

Stock ``docker exec`` (and testinfra's ``docker://``) starts a process per command: about 100 ms.
Here one ``sh`` stays open and each command is framed::

    timeout -k 2 <secs> sh -c '<command>' </dev/null >$D/out 2>$D/err; rc=$?
    printf LAB_OUT_<token>; cat $D/out; printf LAB_ERR_<token>; cat $D/err; printf 'LAB_END_<token> %d\\n' $rc

(a command too long for one argv string goes through a heredoc file instead), so exit code,
stdout and stderr come back exact, even binary. ``$D`` is unique per shell, which lets several
shells serve one target at once. GNU ``timeout`` kills the command's whole process
group inside the target; if even the frame does not come (a wedged target), the controller kills
the shell and the next command gets a new one.
"""

from __future__ import annotations

import abc
import contextlib
import secrets
import shlex
import threading
import time
from collections.abc import Callable

from lab.errors import CommandTimeout, ConnectionLost, InfrastructureError
from lab.transport.base import CommandResult

ARGV_MAX = 100_000  # one argv string may hold 128 KiB on Linux
GRACE_S = 10.0  # beyond the in-target timeout before the controller gives up on the shell


class Channel(abc.ABC):
    """A byte pipe to a shell on the target: a ``docker exec -i`` process, an SSH channel..."""

    @abc.abstractmethod
    def send(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def recv(self, timeout: float) -> bytes:
        """Up to 64 KiB; ``b''`` at EOF. Raises ``TimeoutError`` when nothing came in time."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def diagnose(self) -> str:
        """Why the channel ended, when it knows (e.g. the exec client's stderr)."""
        return ""


class PersistentShell:
    def __init__(self, channel: Channel, target: str):
        self.channel = channel
        self.target = target
        self.dir = f"/tmp/.lab-sh-{secrets.token_hex(6)}"
        self._buf = b""
        self.dead = False
        token = secrets.token_hex(8)
        setup = (f"umask 022; mkdir -p {self.dir} && chmod 700 {self.dir}\n"
                 f"printf 'LAB_OUT_{token}LAB_ERR_{token}LAB_END_{token} 0\\n'\n")
        try:
            self._exchange(setup, token, time.monotonic() + 60)
        except TimeoutError:
            self.close()
            raise ConnectionLost(f"{target}: the shell did not start within 60 s") from None

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        searched = 0
        while (found := self._buf.find(marker, searched)) < 0:
            searched = max(0, len(self._buf) - len(marker))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            try:
                chunk = self.channel.recv(min(left, 5.0))
            except TimeoutError:
                continue  # nothing yet; the loop checks the deadline
            if chunk == b"":
                self.dead = True
                why = self.channel.diagnose()
                raise ConnectionLost(f"connection to {self.target} lost" + (f": {why}" if why else ""))
            self._buf += chunk
        head, self._buf = self._buf[:found], self._buf[found + len(marker):]
        return head

    def _exchange(self, script: str, token: str, deadline: float) -> tuple[int, bytes, bytes]:
        try:
            self.channel.send(script.encode())
        except OSError as exc:
            self.dead = True
            raise ConnectionLost(f"connection to {self.target} lost: {exc}") from None
        head = self._read_until(f"LAB_END_{token} ".encode(), deadline)
        rc = int(self._read_until(b"\n", deadline))
        _, _, outputs = head.partition(f"LAB_OUT_{token}".encode())
        out, _, err = outputs.partition(f"LAB_ERR_{token}".encode())
        return rc, out, err

    def run(self, command: str, timeout: float) -> CommandResult:
        token = secrets.token_hex(8)
        d = self.dir
        secs = max(1, int(timeout + 0.999))
        if len(command) < ARGV_MAX:
            prepare, run = "", f"sh -c {shlex.quote(command)}"
        else:  # too long for one argv string: through a file instead
            prepare, run = f"cat > {d}/cmd <<'LAB_EOF_{token}'\n{command}\nLAB_EOF_{token}\n", f"sh {d}/cmd"
        # Markers carry a fresh random token, so no output can fake them; `cat` only runs for a
        # non-empty file: on an emulated target every process is a qemu start.
        script = (
            f"{prepare}timeout -k 2 {secs} {run} </dev/null >{d}/out 2>{d}/err; rc=$?\n"
            f"printf 'LAB_OUT_{token}'; [ -s {d}/out ] && cat {d}/out; printf 'LAB_ERR_{token}'; "
            f"[ -s {d}/err ] && cat {d}/err; printf 'LAB_END_{token} %d\\n' $rc\n"
        )
        started = time.monotonic()
        try:
            rc, out, err = self._exchange(script, token, started + secs + GRACE_S)
        except TimeoutError:
            self.dead = True
            self.close()
            raise CommandTimeout(command, timeout) from None
        duration = time.monotonic() - started
        if rc in (124, 137) and duration >= secs - 0.05:
            raise CommandTimeout(command, timeout)
        return CommandResult(command, rc, out, err, duration)

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self.dead = True
        with contextlib.suppress(OSError):
            self.channel.send(f"rm -rf {self.dir}; exit\n".encode())
        self.channel.close()


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

    def run(self, command: str, timeout: float) -> CommandResult:
        shell = self._take()
        try:
            return shell.run(command, timeout)
        finally:
            self._give_back(shell)

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
