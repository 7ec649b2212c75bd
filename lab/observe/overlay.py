"""A container seen from the host: its writable layer (overlay2's upper folder) and its processes.

Everything here is read by the controller with the host's kernel, so nothing a maintainer script
does inside the target (replacing ``find`` or ``ps``, hiding files in ``/var/tmp``) changes what
the lab sees. Links are never followed: a vendor's link to ``/etc/shadow`` names the target's
path, never the host's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import stat
from pathlib import Path

from lab.errors import InfrastructureError
from lab.observe.state import Entry, FsState, Observer, is_persistent

MAX_ENTRIES = 500_000  # a target that writes more is truncated, and says so


def _kind(st: os.stat_result) -> str:
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return "deleted"  # overlayfs whiteout
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    return "other"


def open_in_root(root: str, path: str, flags: int = os.O_RDONLY) -> int:
    """An fd for ``path`` inside ``root``, opening each component without following links."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FileNotFoundError(errno.ENOENT, "a .. component", path)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = os.open(part, (flags if last else os.O_RDONLY | os.O_DIRECTORY) | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_in_root(root: str, path: str, limit: int) -> bytes | None:
    try:
        fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.EISDIR):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)


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


def _sha256_in(root: str, path: str) -> str | None:
    """The whole file's sha256, read in chunks without following links; None if unreadable."""
    try:
        fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _sha256_of(root: str, path: str) -> str:
    data = read_in_root(root, path, DIGEST_MAX + 1)
    return hashlib.sha256(data).hexdigest() if data is not None and len(data) <= DIGEST_MAX else ""


def bytes_under(folder: str) -> int:
    """The regular files' bytes under ``folder``, never following a link (a layer's link to a
    folder names the target's path, not the host's)."""
    total = 0
    stack = [folder]
    while stack:
        for d, st in _listing(stack.pop()):
            if stat.S_ISDIR(st.st_mode):
                stack.append(d.path)
            elif stat.S_ISREG(st.st_mode):
                total += st.st_blocks * 512
    return total


def _listing(folder: str):
    """A folder's entries, each with its own stat (a link's, never its target's); nothing of what
    cannot be read (gone meanwhile)."""
    try:
        it = os.scandir(folder)
    except OSError:
        return
    with it:
        for d in it:
            try:
                yield d, d.stat(follow_symlinks=False)
            except OSError:
                continue


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _xattrs(path: str) -> dict[str, bytes] | None:
    """A file's extended attributes but overlayfs' own (``trusted.overlay.*``); None if unreadable."""
    try:
        return {name: os.getxattr(path, name, follow_symlinks=False)
                for name in os.listxattr(path, follow_symlinks=False) if not name.startswith("trusted.overlay.")}
    except OSError:
        return None


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _blocks(path: str) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_blocks * 512 if stat.S_ISREG(st.st_mode) else 0


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
        lowers = [d for d in data.get("LowerDir", "").split(":") if d]
        self.layer = os.path.normpath(layer) if layer else None
        if self.layer is not None and (self.layer not in map(os.path.normpath, lowers)
                                       or not os.path.isdir(self.layer)):
            raise InfrastructureError(f"the prepared layer {layer} is not under this container")
        self.lowers = [d for d in lowers if os.path.normpath(d) != self.layer]
        self._layer_bytes = bytes_under(self.layer) if self.layer else 0
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
            written += self._merge_layer(entries)
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
            try:
                it = os.scandir(real)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with it:
                for d in it:
                    if len(entries) >= MAX_ENTRIES:
                        return written
                    path = f"{rel}/{d.name}"
                    st = d.stat(follow_symlinks=False)
                    kind = _kind(st)
                    how = skip(path, kind) if skip is not None else None
                    if how == "all":
                        continue
                    if kind == "dir":
                        stack.append((path, d.path))
                    if how == "entry":
                        continue
                    if kind == "file":
                        written += st.st_blocks * 512
                    link = ""
                    if kind == "link":
                        with contextlib.suppress(OSError):
                            link = os.readlink(d.path)[:4096]
                    existed = self._existed(path)
                    persistent = kind == "file" and is_persistent(path)
                    digests = self._digests(path, existed, root) if persistent else ("", "")
                    entries[path] = Entry(kind, st.st_mode, st.st_uid, st.st_size if kind == "file" else 0,
                                          existed, link, st.st_ctime_ns, *digests)
        return written

    def _merge_layer(self, entries: dict[str, Entry]) -> int:
        """The prepared layer under the writable one, as overlayfs shows them together: what the
        writable layer has at a path wins; its whiteouts, files and opaque folders hide the
        layer's below them; a whiteout of what only the layer had is no entry at all (the run
        that installed the dependencies itself simply removed that file)."""
        upper = dict(entries)

        def skip(path: str, kind: str) -> str | None:
            mine = upper.get(path)
            if mine is None:
                return None
            if mine.kind != "dir" or kind != "dir" or self._opaque(path):
                return "all"
            return "entry"  # the writable layer's folder stands; what is under it merges

        written = self._walk(self.layer, entries, skip)
        for path, entry in upper.items():
            if entry.kind == "deleted" and not entry.existed:
                del entries[path]
            elif entry.kind == "file" and (ctime := self._untouched_copy(path)):
                entries[path] = dataclasses.replace(entry, changed_ns=ctime)
        return written

    def _untouched_copy(self, path: str) -> int:
        """The layer's change time of ``path`` when the writable layer holds a copy of it that
        nothing changed, else 0. Opening a lower file for writing copies it up as a new inode,
        though nothing is written (a review's ``: >> /usr/bin/sudo``); where the run had installed
        the file itself, its change time would not have moved."""
        try:
            mine = os.lstat(os.path.join(self.upper, path.lstrip("/")))
            theirs = os.lstat(os.path.join(self.layer, path.lstrip("/")))
        except OSError:
            return 0
        if not (stat.S_ISREG(mine.st_mode) and stat.S_ISREG(theirs.st_mode)) or \
                (mine.st_mode, mine.st_uid, mine.st_gid, mine.st_size, mine.st_mtime_ns, mine.st_nlink) != \
                (theirs.st_mode, theirs.st_uid, theirs.st_gid, theirs.st_size, theirs.st_mtime_ns, theirs.st_nlink):
            return 0  # a hard link made to it counts (a review linked sudo elsewhere)
        if _xattrs(os.path.join(self.upper, path.lstrip("/"))) != _xattrs(os.path.join(self.layer, path.lstrip("/"))):
            return 0  # file capabilities, ACLs: a review gave sudoreplay cap_setuid without a byte written
        if _sha256_in(self.upper, path) != _sha256_in(self.layer, path):
            return 0
        return theirs.st_ctime_ns

    def _opaque(self, path: str) -> bool:
        return _is_opaque(os.path.join(self.upper, path.lstrip("/")))

    def _digests(self, path: str, existed: bool, root: str | None = None) -> tuple[str, str]:
        """A persistent file's sha256 in the writable layer (or the prepared layer it comes from) and
        in the image (its topmost lower layer that has it), each read without following links, up
        to ``DIGEST_MAX`` bytes."""
        here = _sha256_of(root or self.upper, path)
        image = next((d for lower in self.lowers if (d := _sha256_of(lower, path))), "") if existed else ""
        return here, image

    def written_bytes(self) -> int:
        """What the target wrote beyond its image, walked without building the state, and into the
        files Docker mounts from the lab's disk; with a prepared layer, what of that layer the
        writable one does not hide (as if this run had written it: a run that installed the
        dependencies itself counts their bytes until it removes them)."""
        total = docker_files_bytes(self.attrs)
        if self.layer is None:
            return total + bytes_under(self.upper)
        hidden = 0
        # (folder of the writable layer, the layer's folder at the same path or None: it shows nothing)
        stack: list[tuple[str, str | None]] = [(self.upper, self.layer)]
        while stack:
            here, below = stack.pop()
            for d, st in _listing(here):
                under = os.path.join(below, d.name) if below is not None else None
                theirs = _lstat(under) if under is not None else None
                if stat.S_ISDIR(st.st_mode):
                    if theirs is not None and stat.S_ISDIR(theirs.st_mode) and not _is_opaque(d.path):
                        stack.append((d.path, under))  # both folders show: merged below
                        continue
                    stack.append((d.path, None))
                elif _kind(st) != "deleted":
                    total += st.st_blocks * 512
                if theirs is not None:  # hidden: by a whiteout, a copy, a file or an opaque folder
                    hidden += bytes_under(under) if stat.S_ISDIR(theirs.st_mode) else _blocks(under)
        return total + self._layer_bytes - hidden

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
