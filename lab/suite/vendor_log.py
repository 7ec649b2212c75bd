"""The vendor-test runner's own log (its pytest.log), read from the lab's side: its end, its
paths as the vendor wrote them, and what stopped pytest before any test ran.

The log is the vendor's text: read through Docker's archive API (nothing runs in the container),
streamed and cut to its end, and only ever quoted (redacted by the caller).
"""

from __future__ import annotations

import collections
import contextlib
import io
import re
import tarfile

from docker.errors import APIError, NotFound

LOG = "/work/pytest.log"
LOG_KEEP = 1 << 20  # bytes of the runner's log kept in vendor-tests.log (its end)
LOG_READ_MAX = 256 << 20  # a log larger than this is not read at all
TAIL_CHARS = 1500  # of the log's end quoted in a failure message
TAIL_LINES = 25


class _Chunks(io.RawIOBase):
    """A generator of byte chunks as a readable stream, for ``tarfile``'s stream mode."""

    def __init__(self, chunks):
        self._it = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._left:
            nxt = next(self._it, None)
            if nxt is None:
                return 0
            self._left = nxt
        n = min(len(b), len(self._left))
        b[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def runner_log(container) -> str:
    """The end of the runner's pytest.log, at most ``LOG_KEEP`` bytes of it.

    Read through Docker's archive API, which runs nothing in the container (the vendor's code had
    root there and may have replaced any program) and works on a stopped one; streamed, so a log
    of any size costs at most ``LOG_KEEP`` bytes of memory here.
    """
    try:
        stream, stat = container.get_archive(LOG, chunk_size=65536)
    except NotFound:
        return "(the runner left no pytest.log)"
    except APIError as exc:
        return f"(the runner's pytest.log could not be read: {exc.explanation})"
    try:
        size = int(stat.get("size") or 0)
        if size > LOG_READ_MAX:
            return f"(the runner's pytest.log is {size} bytes, too large to read)"
        kept: collections.deque[bytes] = collections.deque()
        held = total = 0
        with tarfile.open(fileobj=_Chunks(stream), mode="r|") as tar:
            member = tar.next()
            if member is None or not member.isfile():
                return "(the runner's pytest.log is not a regular file)"
            fh = tar.extractfile(member)
            while chunk := fh.read(65536):
                kept.append(chunk)
                held += len(chunk)
                total += len(chunk)
                while held - len(kept[0]) >= LOG_KEEP:
                    held -= len(kept.popleft())
    except (tarfile.TarError, OSError) as exc:  # requests' stream errors are OSErrors too
        return f"(the runner's pytest.log could not be read: {exc})"
    finally:
        with contextlib.suppress(Exception):
            stream.close()
    data = b"".join(kept)[-LOG_KEEP:]
    text = data.decode("utf-8", "replace")
    if total > len(data):
        text = f"[... the first {total - len(data)} bytes cut ...]\n" + text
    return text


RUNNER_ROOT = "/work/sub"  # where the runner holds the submission: said as the vendor's own paths
_E_LINE = re.compile(r"^E[ \t]+(\S.*)$", re.M)  # within one line: a bare "E" never takes the next
_FILE_LINE = re.compile(r'^E[ \t]+File "([^"]+)", line (\d+)', re.M)
_ERROR_OF = re.compile(r"^ERROR (\S+)", re.M)


_RUNNER_PATH = re.compile(r"(?<![\w./-])/?" + re.escape(RUNNER_ROOT.lstrip("/")) + "/")


def as_submitted(text: str) -> str:
    """The runner's log with the submission's paths as the vendor wrote them (``tests/...``), not
    as the runner holds them (``/work/sub/tests/...``, or ``work/sub/...`` relative to its root)."""
    return _RUNNER_PATH.sub("", text)


def collection_error(log: str) -> str:
    """What stopped pytest before any test ran, in one line, from the runner's log: the file
    pytest names (``ERROR tests/test_x.py``), the error's last line and where it points
    (``tests/test_x.py: SyntaxError: expected ':' (line 1)``); "" when the log says none."""
    log = as_submitted(log)
    errors = _E_LINE.findall(log)
    if not errors:
        return ""
    named = _ERROR_OF.findall(log)
    file = named[-1] if named else None  # the summary's, at the end (not a line the vendor logged)
    at = _FILE_LINE.findall(log)
    where = f" (line {at[-1][1]})" if at and file and at[-1][0].endswith(file.split("::")[0]) else ""
    said = errors[-1].strip()
    said = said if len(said) <= 300 else said[:297] + "..."
    return f"{file}: {said}{where}" if file else said


def tail(text: str) -> str:
    """The log's last lines, as a failure message quotes them."""
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    tail = "\n".join(lines)
    return tail if len(tail) <= TAIL_CHARS else "..." + tail[-TAIL_CHARS:]
