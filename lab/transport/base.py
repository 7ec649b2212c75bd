"""The transport contract every backend keeps (after testinfra's ``BaseBackend``).

``run()`` takes one shell command line and returns a ``CommandResult`` with the exit code and
both outputs as bytes. Quoting is the caller's (``shlex.quote`` or testinfra's ``%s`` args).
Observers see every command, so the evidence of a verdict (command, exit code, output) can be
recorded without the suites doing anything. Each output is capped at ``output_max_bytes`` per
stream, by the controller as the bytes arrive: a longer one comes back as its head and tail with
the cut stated.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int
    stdout_bytes: bytes
    stderr_bytes: bytes
    duration_s: float

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def redacted(self, secrets: set[str]) -> CommandResult:
        """The same result with every secret replaced, for anything that is shown or stored."""
        if not secrets:
            return self
        return CommandResult(redact(self.command, secrets), self.exit_status,
                             redact(self.stdout_bytes.decode("utf-8", "replace"), secrets).encode(),
                             redact(self.stderr_bytes.decode("utf-8", "replace"), secrets).encode(), self.duration_s)

    def evidence(self, limit: int = 2000) -> str:
        """What a vendor needs to see of a command: the line, its exit code, the end of its output."""
        text = (self.stdout + self.stderr).strip()
        if len(text) > limit:
            text = "..." + text[-limit:]
        return f"$ {self.command}\n[exit {self.exit_status}]\n{text}".rstrip()


Observer = Callable[[CommandResult], None]
MASK = "********"
OUTPUT_MAX_BYTES = 1 << 20  # the default of [lab.limits] output_max_bytes


def redact(text: str, secrets: set[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class Transport(abc.ABC):
    """A target reached for commands and files. Raise ``InfrastructureError`` when it is gone."""

    def __init__(self, name: str):
        self.name = name
        self.default_timeout: float = 120.0
        # Per command and stream; provisioning sets it from [lab.limits] output_max_bytes.
        self.output_max_bytes: int = OUTPUT_MAX_BYTES
        self._observers: list[Observer] = []
        self._observers_lock = threading.Lock()
        self.secrets: set[str] = set()  # never shown to observers (evidence, logs, reports)
        # Files the transport itself put on the target for a moment (a board's transfer spool): the
        # lab's own, by exact name, when a listing happens to catch one.
        self.spools: set[str] = set()

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer`` after every command; returns the function that stops it."""
        with self._observers_lock:
            self._observers.append(observer)

        def stop() -> None:
            with self._observers_lock:
                if observer in self._observers:
                    self._observers.remove(observer)
        return stop

    def _notify(self, result: CommandResult) -> None:
        shown = result.redacted(self.secrets)
        for observer in list(self._observers):
            observer(shown)

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        result = self._run(command, self.default_timeout if timeout is None else timeout)
        self._notify(result)
        return result

    @abc.abstractmethod
    def _run(self, command: str, timeout: float) -> CommandResult: ...

    @abc.abstractmethod
    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` on the target, creating its folder."""

    @abc.abstractmethod
    def get_bytes(self, path: str) -> bytes:
        """Read one regular file from the target."""

    @abc.abstractmethod
    def get_tar(self, path: str) -> bytes:
        """A folder as a tar stream whose top entry is the folder's own name."""

    @abc.abstractmethod
    def put_tar(self, folder: str, data: bytes) -> None:
        """Unpack a tar stream into ``folder`` on the target."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def put_file(self, local: str, path: str, mode: int = 0o644) -> None:
        with open(local, "rb") as fh:
            self.put_bytes(fh.read(), path, mode)

    @staticmethod
    def parent(path: str) -> str:
        return str(PurePosixPath(path).parent)
