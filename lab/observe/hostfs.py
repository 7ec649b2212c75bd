"""A container's layer folders read from the host, never following a link.

A link in a target's layer names the target's path: followed on the host, a vendor's link to
``/etc/shadow`` (or a layer's link to a folder) would read or measure the lab's own disk. Every
helper here opens or stats each path component as it is.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat


def kind(st: os.stat_result) -> str:
    """file, dir, link, other, or deleted (an overlayfs whiteout: a 0/0 character device)."""
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return "deleted"
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


def _open_file(root: str, path: str) -> int | None:
    """An fd of a regular file inside ``root``; None where there is none (absent, a link, a folder,
    a fifo, a device, a name no file can have...). The last component is first opened as a path
    only (``O_PATH``: nothing of a device or fifo runs on the host) and reopened for reading only
    once it is known to be a regular file (a review: a device node the target's root made at a
    library's path was opened on the host)."""
    try:
        pathfd = open_in_root(root, path, os.O_PATH)
    except ValueError:  # an embedded NUL: no such file
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(pathfd).st_mode):
            return None
        return os.open(f"/proc/self/fd/{pathfd}", os.O_RDONLY | os.O_NONBLOCK)
    finally:
        os.close(pathfd)


def read_in_root(root: str, path: str, limit: int) -> bytes | None:
    fd = _open_file(root, path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit)


def sha256_in_root(root: str, path: str, most: int | None = None) -> str | None:
    """A regular file's sha256, read in chunks; None where there is none, or it holds more than
    ``most`` bytes."""
    try:
        fd = _open_file(root, path)
    except OSError:
        return None
    if fd is None:
        return None
    h, seen = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(1 << 20):
            seen += len(chunk)
            if most is not None and seen > most:
                return None
            h.update(chunk)
    return h.hexdigest()


def listing(folder: str):
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


def bytes_under(folder: str) -> int:
    """The regular files' bytes under ``folder``."""
    total = 0
    stack = [folder]
    while stack:
        for d, st in listing(stack.pop()):
            if stat.S_ISDIR(st.st_mode):
                stack.append(d.path)
            elif stat.S_ISREG(st.st_mode):
                total += st.st_blocks * 512
    return total


def lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def file_bytes(path: str) -> int:
    """A regular file's bytes on disk; 0 for anything else or nothing."""
    st = lstat_or_none(path)
    return st.st_blocks * 512 if st is not None and stat.S_ISREG(st.st_mode) else 0


def xattrs(path: str) -> dict[str, bytes] | None:
    """A file's extended attributes but overlayfs' own (``trusted.overlay.*``); None if unreadable."""
    try:
        return {name: os.getxattr(path, name, follow_symlinks=False)
                for name in os.listxattr(path, follow_symlinks=False) if not name.startswith("trusted.overlay.")}
    except OSError:
        return None


def is_opaque(path: str) -> bool:
    """An overlayfs folder that hides what the layers under it hold at its path."""
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False
