"""A container seen from the host: its writable layer (overlay2's upper folder) and its processes.

Everything here is read by the controller with the host's kernel, so nothing a maintainer script
does inside the target (replacing ``find`` or ``ps``, hiding files in ``/var/tmp``) changes what
the lab sees. Links are never followed: a vendor's link to ``/etc/shadow`` names the target's
path, never the host's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lab.errors import InfrastructureError
from lab.observe.hostfs import bytes_under, kind, listing, read_in_root, sha256_in_root
from lab.observe.layered import PreparedLayer
from lab.observe.state import Entry, FsState, Observer, is_persistent

MAX_ENTRIES = 500_000  # a target that writes more is truncated, and says so


# The files Docker bind-mounts into every container from its own folder on the lab's disk
# (/etc/hosts, /etc/hostname, /etc/resolv.conf): writable inside, and outside the writable layer,
# so a review's postinst appended 256 MiB to /etc/hosts past a 64 MiB disk quota.
DOCKER_FILES = ("HostsPath", "HostnamePath", "ResolvConfPath")


def docker_files_bytes(attrs: dict) -> int:
    """What those files hold on the lab's disk, for the disk quota beside the writable layer."""
    total = 0
    for key in DOCKER_FILES:
        if path := attrs.get(key):
            with contextlib.suppress(OSError):
                total += os.lstat(path).st_blocks * 512
    return total


DIGEST_MAX = 1 << 20  # a persistent file bigger than this is compared by size and mode only


def _stat(pid: int) -> tuple[str, int | None]:
    """A process's state letter (``R``, ``S``, ``Z``...; "" when it is gone) and parent, from the
    host's /proc (the command name may hold spaces and parens)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return "", None


def _ppid(pid: int) -> int | None:
    return _stat(pid)[1]


def _pid_inside(pid: int) -> str:
    """The pid the target itself sees (the last of NSpid), which is what its logs name."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return line.split()[-1]
    except OSError:
        pass
    return "?"


class OverlayObserver(Observer):
    trusted = True

    def __init__(self, container, layer: str | None = None):
        """``layer``: the folder of a prepared layer the container started from
        (``lab.cache.layers``): its files are seen as this run's own writes, which is what they
        would have been had the run installed the OS dependencies itself, and the image is what
        lies under it."""
        attrs = container.attrs
        data = attrs.get("GraphDriver", {}).get("Data") or {}
        if attrs.get("GraphDriver", {}).get("Name") != "overlay2" or not data.get("UpperDir"):
            raise InfrastructureError("the container's storage is not overlay2: no outside view of its files")
        self.upper = data["UpperDir"]
        self.merged = data["MergedDir"]
        self.lowers = [d for d in data.get("LowerDir", "").split(":") if d]
        self.layer = PreparedLayer(layer, self.upper, self.lowers) if layer else None
        if self.layer is not None:
            self.lowers = self.layer.below(self.lowers)
        self.init_pid = int(attrs["State"]["Pid"])
        self.attrs = attrs
        if not os.path.isdir(self.upper):
            raise InfrastructureError(f"the container's writable layer {self.upper} is not readable here")
        self._baseline = set(self._container_pids())

    # -- files -----------------------------------------------------------------------------------
    def _existed(self, path: str) -> bool:
        rel = path.lstrip("/")
        return any(os.path.lexists(os.path.join(lower, rel)) for lower in self.lowers)

    def state(self) -> FsState:
        entries: dict[str, Entry] = {}
        written = self._walk(self.upper, entries)
        if self.layer is not None:
            written += self.layer.merge(entries, self._walk)
        truncated = len(entries) >= MAX_ENTRIES
        return FsState(entries, self.processes(), written, truncated, trusted=True, in_image=self._existed,
                       own=self.own)

    def _walk(self, root: str, entries: dict[str, Entry], skip=None) -> int:
        """Entries of one layer folder into ``entries``; the bytes of its files. ``skip(path, kind)``:
        None to take a path, "entry" to take only what is under it, "all" to take nothing of it."""
        written = 0
        stack = [("", root)]
        while stack:
            rel, real = stack.pop()
            for d, st in listing(real):
                if len(entries) >= MAX_ENTRIES:
                    return written
                path = f"{rel}/{d.name}"
                what = kind(st)
                how = skip(path, what) if skip is not None else None
                if how == "all":
                    continue
                if what == "dir":
                    stack.append((path, d.path))
                if how == "entry":
                    continue
                if what == "file":
                    written += st.st_blocks * 512
                link = ""
                if what == "link":
                    with contextlib.suppress(OSError):
                        link = os.readlink(d.path)[:4096]
                existed = self._existed(path)
                persistent = what == "file" and is_persistent(path)
                digests = self._digests(path, existed, root) if persistent else ("", "")
                entries[path] = Entry(what, st.st_mode, st.st_uid, st.st_size if what == "file" else 0,
                                      existed, link, st.st_ctime_ns, *digests)
        return written

    def _digests(self, path: str, existed: bool, root: str | None = None) -> tuple[str, str]:
        """A persistent file's sha256 in the writable layer (or the prepared layer it comes from) and
        in the image (its topmost lower layer that has it), each read without following links, up
        to ``DIGEST_MAX`` bytes."""
        here = sha256_in_root(root or self.upper, path, DIGEST_MAX) or ""
        image = next((d for lower in self.lowers if (d := sha256_in_root(lower, path, DIGEST_MAX))), "") \
            if existed else ""
        return here, image

    def written_bytes(self) -> int:
        """What the target wrote beyond its image, walked without building the state, and into the
        files Docker mounts from the lab's disk; with a prepared layer, what of that layer the
        writable one does not hide (as if this run had written it: a run that installed the
        dependencies itself counts their bytes until it removes them)."""
        inside = self.layer.written_bytes() if self.layer is not None else bytes_under(self.upper)
        return docker_files_bytes(self.attrs) + inside

    def read(self, path: str, limit: int = 1 << 20) -> bytes | None:
        return read_in_root(self.merged, path, limit)

    # -- processes -------------------------------------------------------------------------------
    def _container_pids(self) -> list[int]:
        """Every process in the container's PID namespace, found in the host's /proc."""
        try:
            ns = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        except OSError:
            return []
        pids = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry.name}/ns/pid") == ns:
                        pids.append(int(entry.name))
        return pids

    def processes(self) -> dict[int, str]:
        """Processes the lab did not start: everything in the container's PID namespace but its init,
        the ``sleep`` that keeps it up, and the lab's own shells (whose parent is outside)."""
        pids = self._container_pids()
        inside = set(pids)
        out = {}
        for pid in pids:
            if pid in self._baseline:
                continue
            state, ppid = _stat(pid)
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if ppid not in inside:  # started by `docker exec`: the lab's own shell or command
                continue
            if self._lab_command(pid, inside):
                continue
            if state in ("Z", "X", ""):  # exited, not yet reaped (or gone meanwhile): nothing runs
                continue
            out[pid] = f"{cmd.strip()[:300]} (pid {_pid_inside(pid)} in the target)"
        return out

    def _lab_command(self, pid: int, inside: set[int]) -> bool:
        """A child of one of the lab's exec'd shells, still running (a command in progress)."""
        seen = 0
        while pid in inside and seen < 64:
            ppid = _ppid(pid)
            if ppid is None or ppid == self.init_pid:
                return False
            if ppid not in inside:
                return True
            pid, seen = ppid, seen + 1
        return False

    def adopt(self):
        before = set(self._container_pids())

        def done() -> None:
            self._baseline |= set(self._container_pids()) - before
        return done

    def kill_new(self) -> int:
        """SIGKILL every process the lab did not start itself, commands in progress included (a
        disk-quota breach: the vendor's writer must stop now); returns how many."""
        pids = self._container_pids()
        inside = set(pids)
        n = 0
        for pid in pids:
            if pid in self._baseline:
                continue
            if _ppid(pid) in inside:  # not an exec'd shell itself: a command, a script, a daemon
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
                    n += 1
        return n
