"""The byte pipes a persistent shell speaks through: a local process's pipes (``sh``, or a client
that relays one, ``docker exec -i CONTAINER sh``), stdout and stderr kept apart and read with
``select``; SSH has its own (``lab.transport.ssh``)."""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import select
import selectors
import subprocess
import time

STDOUT, STDERR = 1, 2
CHUNK = 65536
ERR_TAIL = 2000  # bytes of a channel's stderr kept to say why it ended
PIPE_SIZE = 1 << 20  # of a local pipe from a shell: a large output comes in fewer reads
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class Channel(abc.ABC):
    """A byte pipe to a shell on the target, its stdout and stderr kept apart: a ``docker exec -i``
    process, an SSH channel..."""

    @abc.abstractmethod
    def send(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def recv_any(self, timeout: float) -> tuple[int, bytes]:
        """``(STDOUT or STDERR, up to 64 KiB)``; ``(STDOUT, b'')`` once the shell is gone. Raises
        ``TimeoutError`` when nothing came in time."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def sibling(self) -> Channel:
        """Another channel to the same target, as the same user: where a timed-out command is
        killed while its own shell waits for it."""
        raise NotImplementedError

    def diagnose(self) -> str:
        """Why the channel ended, when it knows (e.g. the exec client's last words on stderr)."""
        return ""

    def shell_ended(self) -> bool:
        """The shell's own process ended on the target (it exited or was killed there), as opposed to
        the connection dropping; False when the channel cannot tell."""
        return False


class ErrTail:
    """The last bytes a channel's stderr carried: a client's or a login's reason for ending."""

    def __init__(self):
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * ERR_TAIL:
            del self.data[:-ERR_TAIL]

    def text(self) -> str:
        return bytes(self.data[-ERR_TAIL:]).decode(errors="replace").strip()[-500:]


class PipeChannel(Channel):
    """A process on this machine whose pipes carry the shell: ``sh`` itself, or a client that
    relays one (``docker exec -i CONTAINER sh``)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None):
        self.argv, self.env, self.cwd = argv, env, cwd
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0, env=env, cwd=cwd)
        for pipe in (self.proc.stdout, self.proc.stderr):  # fewer, larger reads of a large output
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ, STDOUT)
        self._sel.register(self.proc.stderr, selectors.EVENT_READ, STDERR)
        self._err = ErrTail()

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def recv_any(self, timeout: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            ready = {key.data for key, _ in self._sel.select(max(0.0, deadline - time.monotonic()))}
            if not ready:
                raise TimeoutError
            if STDERR in ready:  # first: a client's last words come before its stdout's end
                data = os.read(self.proc.stderr.fileno(), CHUNK)
                if data:
                    self._err.add(data)
                    return STDERR, data
                self._sel.unregister(self.proc.stderr)
                continue
            return STDOUT, os.read(self.proc.stdout.fileno(), PIPE_SIZE)

    def sibling(self) -> PipeChannel:
        return PipeChannel(self.argv, self.env, self.cwd)

    def shell_ended(self) -> bool:
        try:
            return self.proc.wait(timeout=1.0) is not None  # the client ends with the process it relays
        except subprocess.TimeoutExpired:
            return False

    def diagnose(self) -> str:
        deadline = time.monotonic() + 1.0  # what the client still says on stderr as it ends
        with contextlib.suppress(OSError, ValueError):
            while (left := deadline - time.monotonic()) > 0 and select.select([self.proc.stderr], [], [], left)[0]:
                data = os.read(self.proc.stderr.fileno(), CHUNK)
                if not data:
                    break
                self._err.add(data)
        return self._err.text()

    def close(self) -> None:
        end_client(self.proc, self._sel)


def end_client(proc: subprocess.Popen, sel: selectors.BaseSelector) -> None:
    """Close a channel's client process: its pipes, then the process (killed if it lingers)."""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    sel.close()
