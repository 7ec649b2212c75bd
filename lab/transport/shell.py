"""A persistent shell on a target, with framing, so a command costs a pipe write, not a process.

Stock ``docker exec`` (and testinfra's ``docker://``) starts a process per command: about 100 ms.
Here one ``sh`` stays open and each command is framed::

    timeout -k 2 <secs> sh -c '<command>' </dev/null >$D/out 2>$D/err; rc=$?
    printf LAB_SEP_<token>; head -c <cap+1> $D/out; printf LAB_SEP_<token>; head -c <cap+1> $D/err
    printf 'LAB_END_<token> %d\\n' $rc

(a command too long for one argv string goes through a heredoc file instead), so exit code,
stdout and stderr come back exact, even binary, up to the lab's output cap. ``$D`` is unique per
shell, which lets several shells serve one target at once. GNU ``timeout`` kills the command's
whole process group inside the target; if even the frame does not come (a wedged target), the
controller kills the shell and the next command gets a new one.

Output is capped inside the target, per command and stream (``Transport.output_max_bytes``, from
``[lab.limits] output_max_bytes``): a stream longer than the cap comes back as its first half-cap
and its last half-cap with the cut stated between them::

    [... 31457280 bytes cut by the lab: the command printed 33554432 bytes ...]

Only then does a second exchange fetch the size (``wc -c``) and the tail (``tail -c``), so a
command with little output costs no extra process. The controller never buffers more than about
twice the cap for one command: a target that sends more (its ``head`` replaced, say) has its
shell closed and the command is *broken*.
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
from lab.transport.base import OUTPUT_MAX_BYTES, CommandResult

ARGV_MAX = 100_000  # one argv string may hold 128 KiB on Linux
GRACE_S = 10.0  # beyond the in-target timeout before the controller gives up on the shell
TAIL_S = 60.0  # for the second exchange of a cut output (its size and tail)
SLACK = 64 * 1024  # beyond twice the cap: markers, the exit code, one read too many


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
        self._buf = bytearray()  # grows in place: reading n bytes costs O(n), not O(n^2)
        self.dead = False
        token = secrets.token_hex(8)
        setup = (f"umask 022; mkdir -p {self.dir} && chmod 700 {self.dir}\n"
                 f"printf 'LAB_SEP_{token}LAB_SEP_{token}LAB_END_{token} 0\\n'\n")
        try:
            self._exchange(setup, token, time.monotonic() + 60, 2, SLACK)
        except TimeoutError:
            self.close()
            raise ConnectionLost(f"{target}: the shell did not start within 60 s") from None

    def _read_until(self, marker: bytes, deadline: float, limit: int) -> bytes:
        """The bytes before ``marker`` (consumed with it); never more than ``limit`` buffered."""
        searched = 0
        while (found := self._buf.find(marker, searched)) < 0:
            searched = max(0, len(self._buf) - len(marker) + 1)  # only new bytes are searched again
            if len(self._buf) > limit:
                self.dead = True
                self.close()
                raise InfrastructureError(
                    f"{self.target}: the shell sent more than {limit} bytes for one command although the lab "
                    "caps output inside the target; its tools do not behave (head replaced?), so the shell is "
                    "closed")
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
            self._buf += chunk  # in place (bytearray)
        with memoryview(self._buf) as view:
            head = bytes(view[:found])
        del self._buf[:found + len(marker)]
        return head

    def _exchange(self, script: str, token: str, deadline: float, sections: int,
                  limit: int) -> tuple[int, list[bytes]]:
        """Send ``script``; read back the ``sections`` the script printed, each after a
        ``LAB_SEP_<token>``, and the code after ``LAB_END_<token>``."""
        try:
            self.channel.send(script.encode())
        except OSError as exc:
            self.dead = True
            raise ConnectionLost(f"connection to {self.target} lost: {exc}") from None
        head = self._read_until(f"LAB_END_{token} ".encode(), deadline, limit)
        rc = self._read_until(b"\n", deadline, limit)
        parts = head.split(f"LAB_SEP_{token}".encode())[1:]  # before the first: stray shell output
        if len(parts) != sections or not rc.strip().lstrip(b"-").isdigit():
            self.dead = True
            self.close()
            raise InfrastructureError(f"{self.target}: a garbled frame from the shell ({len(parts)} sections, "
                                      f"code {rc[:20]!r}); the shell is closed")
        return int(rc), parts

    def run(self, command: str, timeout: float, output_max_bytes: int = OUTPUT_MAX_BYTES) -> CommandResult:
        token = secrets.token_hex(8)
        d = self.dir
        secs = max(1, int(timeout + 0.999))
        cap = max(2, output_max_bytes)
        if len(command) < ARGV_MAX:
            prepare, run = "", f"sh -c {shlex.quote(command)}"
        else:  # too long for one argv string: through a file instead
            prepare, run = f"cat > {d}/cmd <<'LAB_EOF_{token}'\n{command}\nLAB_EOF_{token}\n", f"sh {d}/cmd"
        # Markers carry a fresh random token, so no output can fake them; `head` only runs for a
        # non-empty file: on an emulated target every process is a qemu start. One byte beyond the
        # cap tells the controller the stream was longer.
        sep = f"printf 'LAB_SEP_{token}'"
        script = (
            f"{prepare}timeout -k 2 {secs} {run} </dev/null >{d}/out 2>{d}/err; rc=$?\n"
            f"{sep}; [ -s {d}/out ] && head -c {cap + 1} {d}/out; {sep}; "
            f"[ -s {d}/err ] && head -c {cap + 1} {d}/err; printf 'LAB_END_{token} %d\\n' $rc\n"
        )
        started = time.monotonic()
        try:
            rc, (out, err) = self._exchange(script, token, started + secs + GRACE_S, 2, 2 * (cap + 1) + SLACK)
        except TimeoutError:
            self.dead = True
            self.close()
            raise CommandTimeout(command, timeout) from None
        duration = time.monotonic() - started
        if rc in (124, 137) and duration >= secs - 0.05:
            raise CommandTimeout(command, timeout)
        if len(out) > cap or len(err) > cap:
            out, err = self._cut(out, err, cap)
        return CommandResult(command, rc, out, err, duration)

    def _cut(self, out: bytes, err: bytes, cap: int) -> tuple[bytes, bytes]:
        """Each stream longer than ``cap``: its head, the cut stated, its tail (fetched now, with its
        size); the file is emptied after, so it stops taking the target's disk."""
        head_keep = cap // 2
        tail_keep = cap - head_keep
        token = secrets.token_hex(8)
        long = [name for name, data in (("out", out), ("err", err)) if len(data) > cap]
        sep = f"printf 'LAB_SEP_{token}'"
        script = "".join(f"{sep}; wc -c <{self.dir}/{n}; {sep}; tail -c {tail_keep} {self.dir}/{n}; "
                         f": >{self.dir}/{n}; " for n in long) + f"printf 'LAB_END_{token} 0\\n'\n"
        try:
            _, parts = self._exchange(script, token, time.monotonic() + TAIL_S, 2 * len(long),
                                      2 * tail_keep + SLACK)
        except TimeoutError:
            self.dead = True
            self.close()
            raise ConnectionLost(f"connection to {self.target} lost: the shell did not return the tail of a "
                                 f"command's output within {TAIL_S:g} s") from None
        streams = {"out": out, "err": err}
        for i, name in enumerate(long):
            size_text, tail = parts[2 * i].strip(), parts[2 * i + 1][-tail_keep:]
            size = int(size_text) if size_text.isdigit() else None
            if size is None:
                note = f"[... bytes cut by the lab: the command printed more than {cap} bytes ...]"
            else:
                cut = max(0, size - head_keep - len(tail))
                note = f"[... {cut} bytes cut by the lab: the command printed {size} bytes ...]"
            streams[name] = streams[name][:head_keep] + f"\n{note}\n".encode() + tail
        return streams["out"], streams["err"]

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

    def run(self, command: str, timeout: float, output_max_bytes: int = OUTPUT_MAX_BYTES) -> CommandResult:
        shell = self._take()
        try:
            return shell.run(command, timeout, output_max_bytes)
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
