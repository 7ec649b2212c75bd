"""A board seen through its own tools (``find``, ``ps``): the only view a remote machine offers.

Weaker than the overlay view (a maintainer script could replace these tools), so its states say
``trusted = False`` and the report says the board was judged through its own tools. Boards are
reset or re-imaged between runs for the same reason.
"""

from __future__ import annotations

import shlex

from lab.errors import InfrastructureError
from lab.observe.state import Entry, FsState, Observer
from lab.transport.base import Transport

PRUNE = ("/proc", "/sys", "/dev", "/run")
KINDS = {"f": "file", "d": "dir", "l": "link"}
LISTING = "/var/tmp/lab-staging/.fs-listing"  # under the lab's own staging folder: never judged


def parse_find(out: bytes) -> dict[str, Entry]:
    """``find -printf '%y %m %U %s %p\\0%l\\0'`` into entries (NUL-separated: names may hold
    newlines; ``%l`` is a link's target, empty for anything else)."""
    entries = {}
    fields = out.split(b"\0")
    for record, link in zip(fields[0::2], fields[1::2], strict=False):
        parts = record.decode("utf-8", "replace").split(" ", 4)
        if len(parts) != 5:
            continue
        kind, mode, uid, size, path = parts
        entries[path] = Entry(KINDS.get(kind, "other"), int(mode, 8), int(uid) if uid.isdigit() else -1,
                              int(size) if kind == "f" else 0, existed=False,
                              link=link.decode("utf-8", "replace"))
    return entries


class RemoteObserver(Observer):
    trusted = False

    def __init__(self, transport: Transport):
        self.t = transport
        self._baseline = set(self._ps())

    def _ps(self) -> dict[int, tuple[int, str]]:
        out = self.t.run("ps -eo pid=,ppid=,args=").stdout
        procs = {}
        for line in out.splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                procs[int(parts[0])] = (int(parts[1]), parts[2] if len(parts) > 2 else "")
        return procs

    def state(self) -> FsState:
        prune = " -o ".join(f"-path {p}" for p in PRUNE)
        # Into a file, fetched whole: a listing is larger than a command's output cap.
        r = self.t.run(f"mkdir -p {LISTING.rsplit('/', 1)[0]} && find / -xdev \\( {prune} \\) -prune -o "
                       f"-printf '%y %m %U %s %p\\0%l\\0' > {LISTING}", timeout=300)
        if r.exit_status not in (0, 1):  # 1: a file vanished while find walked: harmless
            raise InfrastructureError(f"listing the board's files failed:\n{r.evidence()}")
        try:
            listing = self.t.get_bytes(LISTING)
        except FileNotFoundError:
            raise InfrastructureError("listing the board's files failed: no listing written") from None
        processes = {pid: cmd[:300] for pid, (ppid, cmd) in self._ps().items()
                     if pid not in self._baseline and ppid == 1}
        return FsState(parse_find(listing), processes, 0, False, trusted=False, own=self.own,
                       spools=frozenset(self.t.spools.copy()))  # copy(): one step, while a thread may add

    def adopt(self):
        before = set(self._ps())

        def done() -> None:
            self._baseline |= set(self._ps()) - before
        return done

    def read(self, path: str, limit: int = 1 << 20) -> bytes | None:
        limit = min(limit, self.t.output_max_bytes)  # beyond it the transport would cut the file
        r = self.t.run(f"test -f {shlex.quote(path)} && ! test -L {shlex.quote(path)} && "
                       f"head -c {int(limit)} {shlex.quote(path)}")
        return r.stdout_bytes if r.ok else None
