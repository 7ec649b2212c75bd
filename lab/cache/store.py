"""The cache's files on the controller: entries of package files and package lists, written so that
several workers (and several ``lab run``s) can share one folder without corrupting it.

Layout (one entry per target image and mirror)::

    <root>/.lock                       shared while an entry is used, exclusive while evicting
    <root>/<key>/key.json              what the key stands for (image id, mirror, format)
    <root>/<key>/files/<name>          a downloaded package (.deb, .rpm)
    <root>/<key>/files/<name>.sha256   its sha256, as the package manager verified it on download
    <root>/<key>/files/<name>.paths    the paths it installs (read once from the package, not each run)
    <root>/<key>/lists.tar, lists.json the package lists (apt's /var/lib/apt/lists) and when fetched
    <root>/<key>/memos/<memo>.json     which files one product needed against one set of lists

Why these rules:
- every write goes to a temporary file that is renamed into place, so a reader sees a whole file
  or none, and two writers of the same package simply replace one whole copy by another;
- every file read is checked against its recorded sha256: a damaged file (a disk error, a
  truncated copy, a hand edit) is deleted and reported as :class:`Damaged`, never handed on;
- use takes a shared ``flock``, eviction an exclusive one, so no file disappears under a reader;
- the size is bounded: least recently used files (their mtime is touched on each use) go first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lab.hashing import sha256_bytes

DEFAULT_ROOT = Path("~/.cache/adaptation-lab/packages")
# A package file as a repository names it; nothing with a slash or a leading dot gets in.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~_%:-]{0,250}\.(deb|rpm)")
KEY = re.compile(r"[0-9a-f]{16,64}")
COMPANIONS = (".sha256", ".paths")  # beside a package file, and evicted with it
PATHS_FORMAT = 1  # of a .paths record: raised when the lab reads a package's paths differently


class CacheError(Exception):
    """The cache cannot serve or keep something; the caller downloads as if there were no cache."""


class Damaged(CacheError):
    """A cached file no longer matches its recorded sha256 (it has been removed)."""


def write_atomic(path: Path, data: bytes) -> None:
    """A whole file or none: written beside, then renamed. ``OSError`` (disk full...) leaves nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@dataclass
class Usage:
    bytes: int
    entries: int
    files: int


class Entry:
    """The packages and lists of one target image and mirror."""

    def __init__(self, root: Path, key: str):
        if not KEY.fullmatch(key):
            raise CacheError(f"not a cache key: {key!r}")
        self.key = key
        self.path = root / key

    # -- package files -------------------------------------------------------------------------
    def _file(self, name: str) -> Path:
        if not FILE_NAME.fullmatch(name):
            raise CacheError(f"not a package file name: {name!r}")
        return self.path / "files" / name

    def has(self, name: str) -> bool:
        return self._file(name).exists()

    def get(self, name: str) -> bytes | None:
        """The file, checked against its sha256; None when absent; ``Damaged`` when it does not match."""
        path = self._file(name)
        try:
            data = path.read_bytes()
            want = path.with_name(name + ".sha256").read_text().strip()
        except FileNotFoundError:
            return None
        if sha256_bytes(data) != want:
            for p in (path, path.with_name(name + ".sha256")):
                with contextlib.suppress(OSError):
                    p.unlink()
            raise Damaged(f"{name} in the cache does not match its sha256 (damaged): removed")
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return data

    def put(self, name: str, data: bytes, sha256: str | None = None) -> None:
        """Keep ``data`` as ``name``; ``sha256``, when given, must match (what the downloader verified)."""
        path = self._file(name)
        got = sha256_bytes(data)
        if sha256 is not None and got != sha256:
            raise Damaged(f"{name}: its bytes do not match the sha256 {sha256}")
        if path.exists() and path.with_name(name + ".sha256").exists():
            with contextlib.suppress(OSError):
                os.utime(path)
            return
        # The checksum first: a file without one is never used, a checksum without its file is a miss.
        write_atomic(path.with_name(name + ".sha256"), (got + "\n").encode())
        write_atomic(path, data)

    def paths(self, name: str, sha256: str) -> tuple[str, list[str]] | None:
        """(package, the paths it installs) of the file ``name`` whose bytes have ``sha256``, as
        read from it by an earlier run; None when not recorded, or recorded for other bytes."""
        try:
            record = json.loads(self._file(name).with_name(name + ".paths").read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("v") != PATHS_FORMAT or record.get("sha256") != sha256:
            return None
        package, paths = record.get("package"), record.get("paths")
        if not isinstance(package, str) or not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return None
        return package, paths

    def put_paths(self, name: str, sha256: str, package: str, paths: list[str]) -> None:
        record = {"v": PATHS_FORMAT, "sha256": sha256, "package": package, "paths": paths}
        write_atomic(self._file(name).with_name(name + ".paths"), json.dumps(record).encode())

    # -- package lists -------------------------------------------------------------------------
    def lists(self) -> tuple[bytes, dict] | None:
        """(tar of the lists, {"sha256", "fetched"}) checked; None when absent."""
        try:
            meta = json.loads((self.path / "lists.json").read_text())
            data = (self.path / "lists.tar").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        if sha256_bytes(data) != meta.get("sha256"):
            for name in ("lists.tar", "lists.json"):
                with contextlib.suppress(OSError):
                    (self.path / name).unlink()
            raise Damaged("the cached package lists do not match their sha256 (damaged): removed")
        with contextlib.suppress(OSError):
            os.utime(self.path / "lists.tar")
        return data, meta

    def lists_meta(self) -> dict | None:
        """The lists' record alone (cheap): whether fresh lists are there at all."""
        try:
            return json.loads((self.path / "lists.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def put_lists(self, data: bytes, fetched: float | None = None) -> dict:
        meta = {"sha256": sha256_bytes(data), "fetched": fetched or time.time()}
        write_atomic(self.path / "lists.tar", data)
        write_atomic(self.path / "lists.json", json.dumps(meta).encode())
        return meta

    # -- what one product needed ---------------------------------------------------------------
    def memo(self, key: str) -> dict | None:
        if not KEY.fullmatch(key):
            raise CacheError(f"not a memo key: {key!r}")
        try:
            memo = json.loads((self.path / "memos" / f"{key}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        files = memo.get("files") if isinstance(memo, dict) else None
        if not isinstance(files, list) or not all(isinstance(f, str) and FILE_NAME.fullmatch(f) for f in files):
            return None
        return memo

    def put_memo(self, key: str, files: list[str], **extra) -> None:
        if not KEY.fullmatch(key):
            raise CacheError(f"not a memo key: {key!r}")
        write_atomic(self.path / "memos" / f"{key}.json", json.dumps({"files": files, **extra}).encode())

    def describe(self, **what: str) -> None:
        if not (self.path / "key.json").exists():
            write_atomic(self.path / "key.json", json.dumps(what).encode())


class PackageCache:
    """One cache folder on the controller, bounded to ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root).expanduser()
        self.max_bytes = max_bytes

    @classmethod
    def configured(cls, folder: str | None, max_bytes: int) -> PackageCache | None:
        """``$LAB_CACHE`` first, then the inventory's ``[lab.cache] folder``, then the default;
        ``off`` (either place) turns it off."""
        chosen = os.environ.get("LAB_CACHE") or folder or str(DEFAULT_ROOT)
        if chosen.strip().lower() in ("off", "none", "0", "false"):
            return None
        return cls(Path(chosen), max_bytes)

    def entry(self, key: str) -> Entry:
        return Entry(self.root, key)

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CacheError(f"cannot open the cache's lock in {self.root}: {exc}") from None
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # releases the lock

    def shared(self):
        """Held while an entry is read or added to: eviction waits for it."""
        return self._locked(fcntl.LOCK_SH)

    def exclusive(self):
        return self._locked(fcntl.LOCK_EX)

    def _files(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every evictable file: packages (with their checksums) and lists."""
        found = []
        if not self.root.is_dir():
            return found
        for entry in self.root.iterdir():
            if not entry.is_dir():
                continue
            for path in [*(entry / "files").glob("*"), entry / "lists.tar"]:
                if path.name.endswith(COMPANIONS) or path.name.startswith("."):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = path.stat()
                    found.append((st.st_mtime, st.st_size, path))
        return found

    def usage(self) -> Usage:
        size, files, entries = 0, 0, 0
        if self.root.is_dir():
            for entry in self.root.iterdir():
                if entry.is_dir():
                    entries += 1
                    for path in entry.rglob("*"):
                        with contextlib.suppress(FileNotFoundError):
                            if path.is_file():
                                size += path.stat().st_size
                                files += path.suffix in (".deb", ".rpm")
        return Usage(size, entries, files)

    def evict(self, max_bytes: int | None = None) -> tuple[int, int]:
        """Remove least recently used files until the cache holds at most ``max_bytes``;
        (files removed, bytes freed). Stale temporaries of crashed writers go too."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        removed = freed = 0
        with self.exclusive():
            for stale in self.root.glob("*/**/.*.tmp-*"):
                with contextlib.suppress(OSError):
                    if time.time() - stale.stat().st_mtime > 3600:
                        stale.unlink()
            files = sorted(self._files())
            total = sum(size for _, size, _ in files)
            for _, size, path in files:
                if total <= limit:
                    break
                companions = [path.with_name(path.name + c) for c in COMPANIONS] if path.parent.name == "files" \
                    else [path.with_name("lists.json")]
                for p in (path, *companions):
                    with contextlib.suppress(OSError):
                        p.unlink()
                total -= size
                removed += 1
                freed += size
            for entry in self.root.iterdir():  # an entry left with no package and no lists goes entirely
                if entry.is_dir() and not (entry / "lists.tar").exists() and not any(
                        p.suffix in (".deb", ".rpm") for p in (entry / "files").glob("*")):
                    shutil.rmtree(entry, ignore_errors=True)
        return removed, freed

    def clear(self) -> int:
        """Empty the cache; the bytes freed."""
        with self.exclusive():
            size = self.usage().bytes
            for entry in self.root.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
        return size
