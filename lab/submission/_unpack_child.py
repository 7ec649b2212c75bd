"""The process that reads a vendor's archive: unprivileged, resource-limited, and unable to leave its folder.

Only ``lab.submission.unpack`` runs it, as ``python -I -S -B -X utf8 _unpack_child.py JOB``: a plain
script of the standard library (no package import), so it starts in milliseconds and needs to read
nothing once it has dropped root. JOB (JSON) names two descriptors it inherits: the archive, open
for reading, and the empty destination folder. The child

1. caps its own resources (file size, address space, CPU, descriptors; no core files) and, when it
   starts as root, becomes the unprivileged uid/gid of the job, before it reads one byte of the
   archive: a path check that failed would still meet the kernel's permissions;
2. reads the archive's directory (the zip central directory, or every tar header) and refuses the
   whole archive if any member is not a plain file or folder, has an unsafe or over-long name, or
   if the members or their declared sizes are beyond the caps: nothing is written then;
3. writes each member by opening every path component relative to its parent folder's descriptor
   (``O_NOFOLLOW``, ``O_CREAT | O_EXCL`` for files), never through a path string, counting the bytes
   really written (a declared size can lie; a gzip stream's size is known only by decompressing).

It answers one JSON line on stdout: ``{"problems": [...]}`` or ``{"files": n, "bytes": n, ...}``.
The parent removes the folder on any problem and re-checks what is left.

``open_tar_stream`` and ``StreamTooLong`` are also used by ``lab.deploy.contents``.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import errno  # noqa: F401  (gzip imports it lazily)
import gzip
import io
import json
import lzma
import os
import resource
import signal
import stat
import sys
import tarfile
import warnings  # noqa: F401  (zipfile and gzip import it lazily)
import zipfile
import zlib  # noqa: F401  (zipfile and gzip need it)

# Everything is imported, and every codec the archive modules may use is looked up, now: after the
# child drops root it may not be able to read the interpreter's own library folder at all.
for _codec in ("utf-8", "cp437", "latin-1", "ascii"):
    codecs.lookup(_codec)

CHUNK = 1 << 16
RATIO_FLOOR = 1 << 20  # below 1 MiB unpacked the ratio is not checked: small text compresses well
HEADER_ALLOWANCE = 2048  # tar header bytes allowed per member beyond the files' own bytes
MAX_PROBLEMS = 50
SHOWN_CHARS = 100
WHERE = "([lab.limits] {} in targets.toml)"


class Refused(Exception):
    """A cap was reached: the archive is refused at once, with this problem."""


class StreamTooLong(Exception):
    """The decompressed stream went past its cap."""


class Counted(io.RawIOBase):
    """A reader that counts what it returns and raises ``StreamTooLong`` past ``cap`` bytes."""

    def __init__(self, inner, cap: int):
        self.inner, self.cap, self.count = inner, cap, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        data = self.inner.read(min(n, 1 << 20))
        self.count += len(data)
        if self.count > self.cap:
            raise StreamTooLong(self.cap)
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def open_tar_stream(raw, cap: int) -> tarfile.TarFile:
    """A streaming (``r|``) tar reader over ``raw``, decompressed here and counted against ``cap``.

    The compression is recognised by its magic bytes, so that the count is of decompressed bytes.
    ``raw`` is read forwards only (a pipe will do).
    """
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)
    head = raw.peek(6)[:6]
    if head[:2] == b"\x1f\x8b":
        inner = gzip.GzipFile(fileobj=raw, mode="rb")
    elif head[:3] == b"BZh":
        inner = bz2.BZ2File(raw)
    elif head == b"\xfd7zXZ\x00":
        inner = lzma.LZMAFile(raw)  # noqa: SIM115  (closed with raw, by the caller)
    else:
        inner = raw
    return tarfile.open(fileobj=Counted(inner, cap), mode="r|")


def shown(name: str) -> str:
    """A member's name as a message may print it: printable, and its head and tail if it is long."""
    def clean(text: str) -> str:
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)

    if len(name) <= SHOWN_CHARS:
        return clean(name) or "(empty name)"
    size = len(name.encode("utf-8", "surrogateescape"))
    return f"{clean(name[:60])}...{clean(name[-40:])} ({size} bytes)"


def name_parts(name: str, job: dict) -> list[str]:
    """The path components of a member's name; ``ValueError`` says why the name is refused."""
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("name is not valid UTF-8") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError("control character in the name")
    if "\\" in name:
        raise ValueError("backslash in the name (use / between folders)")
    if name.startswith("/"):
        raise ValueError("absolute path")
    if len(raw) > job["path_max"]:
        raise ValueError(f"path of {len(raw)} bytes is longer than the limit of {job['path_max']} bytes "
                         + WHERE.format("path_max_bytes"))
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("'..' component")
    longest = max((len(p.encode()) for p in parts), default=0)
    if longest > job["name_max"]:
        raise ValueError(f"name of {longest} bytes is longer than the limit of {job['name_max']} bytes "
                         + WHERE.format("name_max_bytes"))
    return parts


class Budget:
    """Members and bytes so far against the caps; ``Refused`` at the first one passed."""

    def __init__(self, job: dict):
        self.job, self.members, self.bytes = job, 0, 0

    def member(self, name: str) -> None:
        self.members += 1
        if self.members > self.job["max_members"]:
            raise Refused(f"archive: more than {self.job['max_members']} members (at {shown(name)}) "
                          + WHERE.format("archive_max_members"))

    def add(self, name: str, n: int, what: str = "unpacks to") -> None:
        self.bytes += n
        most, ratio, size = self.job["max_bytes"], self.job["max_ratio"], self.job["archive_size"]
        if self.bytes > most:
            raise Refused(f"{shown(name)}: the archive {what} more than {most} bytes by this member "
                          + WHERE.format("archive_max_bytes"))
        if self.bytes > RATIO_FLOOR and self.bytes > ratio * size:
            raise Refused(f"{shown(name)}: the archive {what} more than {ratio:g} times its own size of {size} "
                          f"bytes by this member " + WHERE.format("archive_max_ratio"))


class Entry:
    """One member, whatever the archive's format: a file, a folder, or why it is neither."""

    def __init__(self, name: str, kind: str, size: int, executable: bool, opener=None):
        self.name, self.kind, self.size, self.executable, self.open = name, kind, size, executable, opener


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.issparse():
        return "sparse file (not accepted)"
    if m.isreg():
        return "file"
    if m.isdir():
        return "folder"
    if m.issym():
        return "symbolic link (links are not accepted)"
    if m.islnk():
        return "hard link (links are not accepted)"
    if m.ischr() or m.isblk():
        return "device file (only files and folders are accepted)"
    if m.isfifo():
        return "FIFO (only files and folders are accepted)"
    return "unsupported member type (only files and folders are accepted)"


def tar_entries(job: dict):
    raw = os.fdopen(os.dup(job["archive_fd"]), "rb")
    raw.seek(0)
    cap = job["max_bytes"] + HEADER_ALLOWANCE * job["max_members"] + RATIO_FLOOR
    try:
        with open_tar_stream(raw, cap) as tar:
            for m in tar:
                yield Entry(m.name, _tar_kind(m), m.size, bool(m.mode & 0o111), lambda m=m: tar.extractfile(m))
    finally:
        raw.close()


def _too_long(exc: StreamTooLong) -> str:
    return f"archive: its decompressed tar stream is longer than {exc.args[0]} bytes " + WHERE.format(
        "archive_max_bytes")


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.flag_bits & 0x1:
        return "encrypted (not accepted)"
    if kind == stat.S_IFLNK:
        return "symbolic link (links are not accepted)"
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        return "device file (only files and folders are accepted)"
    if kind == stat.S_IFIFO:
        return "FIFO (only files and folders are accepted)"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "unsupported member type (only files and folders are accepted)"
    return "folder" if kind == stat.S_IFDIR or info.filename.endswith("/") else "file"


def zip_entries(job: dict):
    raw = os.fdopen(os.dup(job["archive_fd"]), "rb")
    raw.seek(0)
    try:
        with zipfile.ZipFile(raw) as zf:
            infos = zf.infolist()  # the central directory: counted before anything is read or written
            if len(infos) > job["max_members"]:
                raise Refused(f"archive: {len(infos)} members, more than {job['max_members']} "
                              + WHERE.format("archive_max_members"))
            for info in infos:
                yield Entry(info.filename, _zip_kind(info), info.file_size, bool((info.external_attr >> 16) & 0o111),
                            lambda info=info: zf.open(info))
    finally:
        raw.close()


def scan(entries, job: dict) -> list[str]:
    """Every problem of the archive's directory, without writing anything."""
    problems: list[str] = []
    budget = Budget(job)
    try:
        for e in entries:
            budget.member(e.name)
            try:
                parts = name_parts(e.name, job)
            except ValueError as exc:
                problems.append(f"{shown(e.name)}: {exc}")
                parts = None
            if e.kind not in ("file", "folder"):
                problems.append(f"{shown(e.name)}: {e.kind}")
            elif e.kind == "file" and parts == []:
                problems.append(f"{shown(e.name)}: a file needs a name")
            budget.add(e.name, e.size, "declares")
    except Refused as exc:
        problems.append(str(exc))
    except StreamTooLong as exc:
        problems.append(_too_long(exc))
    return problems


def _folder(dest: int, parts: list[str], name: str) -> int:
    """The descriptor of ``dest/parts...``, each folder made or opened relative to its parent."""
    fd = dest
    for i, part in enumerate(parts):
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o700, dir_fd=fd)
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            raise Refused(f"{shown(name)}: {'/'.join(parts[: i + 1])} is not a folder in the archive") from None
        finally:
            if fd != dest:
                os.close(fd)
        fd = child
    return fd


def _write(dest: int, parts: list[str], e: Entry, budget: Budget) -> None:
    if not parts:
        raise Refused(f"{shown(e.name)}: a file needs a name")
    folder = _folder(dest, parts[:-1], e.name)
    try:
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o700 if e.executable else 0o600, dir_fd=folder)
    except FileExistsError:
        raise Refused(f"{shown(e.name)}: appears twice in the archive") from None
    finally:
        if folder != dest:
            os.close(folder)
    with os.fdopen(fd, "wb") as out, e.open() as src:
        while chunk := src.read(CHUNK):
            budget.add(e.name, len(chunk))
            out.write(chunk)


def extract(entries, job: dict) -> dict:
    """Write every member; the same checks as ``scan`` run again on what is really read."""
    budget, files, folders = Budget(job), 0, 0
    for e in entries:
        budget.member(e.name)
        try:
            parts = name_parts(e.name, job)
        except ValueError as exc:
            raise Refused(f"{shown(e.name)}: {exc}") from None
        if e.kind == "folder":
            fd = _folder(job["dest_fd"], parts, e.name)
            if fd != job["dest_fd"]:
                os.close(fd)
            folders += 1
        elif e.kind == "file":
            _write(job["dest_fd"], parts, e, budget)
            files += 1
        else:
            raise Refused(f"{shown(e.name)}: {e.kind}")
    return {"files": files, "folders": folders, "bytes": budget.bytes}


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit, soft and hard, so the child cannot raise it again (never above the current hard)."""
    _, now = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if now != resource.RLIM_INFINITY:
        soft, hard = min(soft, now), min(hard, now)
    resource.setrlimit(which, (soft, hard))


def confine(job: dict) -> None:
    """Resource limits, then (when root) the unprivileged uid/gid, before the archive is touched."""
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, job["max_bytes"])
    _limit(resource.RLIMIT_AS, job["memory"])
    _limit(resource.RLIMIT_CPU, job["cpu"], job["cpu"] + 5)  # SIGXCPU first, SIGKILL 5 s later
    _limit(resource.RLIMIT_NOFILE, 64)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past RLIMIT_FSIZE a write fails instead of killing
    os.umask(0o077)
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(job["gid"])
        os.setuid(job["uid"])
        if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) or os.getgroups():
            raise SystemExit("could not drop root")


def run(job: dict) -> dict:
    entries = zip_entries if job["kind"] == "zip" else tar_entries
    try:
        problems = scan(entries(job), job)
        if problems:
            more = len(problems) - MAX_PROBLEMS
            return {"problems": problems[:MAX_PROBLEMS] + ([f"... and {more} more problems"] if more > 0 else [])}
        return extract(entries(job), job)
    except Refused as exc:
        return {"problems": [str(exc)]}
    except StreamTooLong as exc:
        return {"problems": [_too_long(exc)]}
    except MemoryError:
        return {"problems": [f"archive: needs more than {job['memory'] >> 20} MiB of memory to read"]}
    except Exception as exc:  # any parsing failure of hostile bytes: tarfile and zipfile raise many types
        detail = shown(f"{type(exc).__name__}: {exc}")
        return {"problems": [f"not a readable archive: {detail}"]}


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    confine(job)
    result = run(job)
    result["uid"] = os.getuid()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
