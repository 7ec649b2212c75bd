"""What an artifact contains, read on the controller without installing or running anything.

The package suite judges these files (ELF machine, symbol versions, runpaths); the security suite
judges their modes. Paths are where the files land on the target.

A vendor's package is attacker input, read here by the lab's own process, so the reading is
bounded by the lab's ``[lab.limits]``: the members (``archive_max_members``), the bytes declared,
decompressed and read (``archive_max_bytes``) and their ratio to the artifact's size
(``archive_max_ratio``). Only a file's first four bytes are read unless it is ELF. The ``.deb``'s
``ar`` container is parsed here rather than by python-debian, which reads a zstd data part, and
the control file, whole into memory.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import posixpath
import stat
import subprocess
import tarfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import DebControl

from lab.elf import ElfInfo, is_elf, parse
from lab.errors import InfrastructureError, ProductFailure
from lab.inventory.model import Limits
from lab.submission.model import Artifact
from lab.submission.unpack import RATIO_FLOOR, StreamTooLong, open_tar_stream

MAX_READ = 256 << 20  # of one ELF file: its headers are read, content beyond is not needed
CONTROL_MAX = 1 << 20  # a control file is a few KiB
AR_MAGIC = b"!<arch>\n"
AR_MAX_PARTS = 16  # a .deb has three
HEADER_ALLOWANCE = 2048  # tar header bytes allowed per member beyond the files' own bytes
WHERE = "[lab.limits] {} in targets.toml"
UNREADABLE = (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)


@dataclass
class Member:
    path: str          # absolute path on the target
    mode: int
    size: int
    elf: ElfInfo | None


@dataclass
class Contents:
    artifact: Artifact
    members: list[Member]
    control: dict[str, str]  # deb control fields (Package, Architecture, Depends...), else {}

    @property
    def elves(self) -> list[ElfInfo]:
        return [m.elf for m in self.members if m.elf]

    @property
    def package(self) -> str | None:
        return self.control.get("Package")


class _Budget:
    """Members and bytes read from one artifact, against the lab's limits."""

    def __init__(self, artifact: Artifact, size: int, limits: Limits):
        self.artifact, self.size, self.limits = artifact, size, limits
        self.members = self.declared = self.read = 0

    @property
    def stream_cap(self) -> int:
        return self.limits.archive_max_bytes + HEADER_ALLOWANCE * self.limits.archive_max_members + RATIO_FLOOR

    def member(self, size: int) -> None:
        lim = self.limits
        self.members += 1
        self.declared += size
        if self.members > lim.archive_max_members:
            raise self.failure(f"more than {lim.archive_max_members} members", "archive_max_members")
        if self.declared > lim.archive_max_bytes:
            raise self.failure(f"its files add up to more than {lim.archive_max_bytes} bytes", "archive_max_bytes")
        if self.declared > RATIO_FLOOR and self.declared > lim.archive_max_ratio * self.size:
            raise self.failure(f"its files add up to more than {lim.archive_max_ratio:g} times its own size of "
                               f"{self.size} bytes", "archive_max_ratio")

    def count(self, data: bytes) -> bytes:
        self.read += len(data)
        if self.read > self.limits.archive_max_bytes:
            raise self.failure(f"more than {self.limits.archive_max_bytes} bytes read", "archive_max_bytes")
        return data

    def failure(self, what: str, limit: str) -> ProductFailure:
        return ProductFailure(f"{self.artifact.path}: {what}: the lab reads no more ({WHERE.format(limit)})")


def _members(tar: tarfile.TarFile, root: str, budget: _Budget) -> list[Member]:
    out = []
    for m in tar:
        budget.member(m.size)
        name = m.name[2:] if m.name.startswith("./") else m.name
        path = posixpath.normpath(posixpath.join(root, name.lstrip("/")))
        if m.isdir():
            out.append(Member(path, m.mode | stat.S_IFDIR, 0, None))
            continue
        if not m.isfile():
            continue
        fh = tar.extractfile(m)
        data = budget.count(fh.read(4)) if fh else b""
        if is_elf(data):
            data += budget.count(fh.read(MAX_READ - len(data)))
        out.append(Member(path, m.mode | stat.S_IFREG, m.size, parse(path, data)))
    return out


class _Slice(io.RawIOBase):
    """``size`` bytes of ``fh`` from ``offset``: one member of an ``ar`` archive."""

    def __init__(self, fh, offset: int, size: int):
        self.fh, self.pos, self.end = fh, offset, offset + size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.end - self.pos)
        if n <= 0:
            return 0
        self.fh.seek(self.pos)
        data = self.fh.read(n)
        buf[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _ar_parts(fh, artifact: Artifact) -> dict[str, tuple[int, int]]:
    """``{name: (offset, size)}`` of a ``.deb``'s ``ar`` members."""
    if fh.read(8) != AR_MAGIC:
        raise ValueError("not an ar archive")
    total = os.fstat(fh.fileno()).st_size
    parts: dict[str, tuple[int, int]] = {}
    while header := fh.read(60):
        if len(header) < 60 or header[58:60] != b"`\n":
            raise ValueError("broken ar header")
        if len(parts) >= AR_MAX_PARTS:
            raise ProductFailure(f"{artifact.path}: more than {AR_MAX_PARTS} parts in a .deb")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size, offset = int(header[48:58].decode("ascii").strip()), fh.tell()
        if size < 0 or offset + size > total:
            raise ValueError(f"ar member {name!r} runs past the end of the file")
        parts[name] = (offset, size)
        fh.seek(offset + size + (size & 1))
    return parts


@contextlib.contextmanager
def _tar_part(fh, parts: dict[str, tuple[int, int]], prefix: str, budget: _Budget):
    """The streaming tar reader of the ``.deb`` part named ``prefix*`` (``data.tar.xz``...)."""
    name = next((n for n in parts if n.startswith(prefix)), None)
    if name is None:
        raise ValueError(f"no {prefix}* part")
    raw = io.BufferedReader(_Slice(fh, *parts[name]))
    with contextlib.ExitStack() as stack:
        if name.endswith(".zst"):
            raw = stack.enter_context(_unzstd(raw, budget.artifact))
        elif name.endswith(".lzma"):
            raw = stack.enter_context(lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE))
        yield stack.enter_context(open_tar_stream(raw, budget.stream_cap))


@contextlib.contextmanager
def _unzstd(source, artifact: Artifact):
    """``zstd -d`` as a stream (at most 128 MiB of window), fed from a thread, killed when done."""
    try:
        proc = subprocess.Popen(["zstd", "-dcq", "--memory=128MB"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except OSError:
        raise InfrastructureError(f"zstd is needed to read {artifact.path}: install the zstd package") from None

    def feed() -> None:
        with contextlib.suppress(OSError):
            while chunk := source.read(1 << 16):
                proc.stdin.write(chunk)
        with contextlib.suppress(OSError):
            proc.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield proc.stdout
    finally:
        proc.kill()
        proc.wait()
        feeder.join()
        proc.stdout.close()


def _control(tar: tarfile.TarFile, budget: _Budget) -> dict[str, str]:
    for m in tar:
        budget.member(m.size)
        if m.isfile() and m.name in ("control", "./control"):
            data = budget.count(tar.extractfile(m).read(CONTROL_MAX + 1))
            if len(data) > CONTROL_MAX:
                raise ProductFailure(f"{budget.artifact.path}: its control file is larger than {CONTROL_MAX} bytes")
            return dict(DebControl(data))
    return {}


def read_control(artifact: Artifact, file: Path, limits: Limits | None = None) -> dict[str, str]:
    """A .deb's control fields alone, within ``limits``: what the controller reads of each package
    before anything runs (the version a manifest claims must be the packages')."""
    budget = _Budget(artifact, file.stat().st_size, limits or Limits())
    try:
        with file.open("rb") as fh, _tar_part(fh, _ar_parts(fh, artifact), "control.tar", budget) as tar:
            return _control(tar, budget)
    except StreamTooLong:
        raise budget.failure(f"decompresses to more than {budget.stream_cap} bytes", "archive_max_bytes") from None
    except UNREADABLE as exc:
        raise ProductFailure(f"{artifact.path} is not a readable .deb: {exc}") from None


def read_contents(artifact: Artifact, file: Path, limits: Limits | None = None) -> Contents:
    """The artifact's members (and a .deb's control fields), within ``limits`` (default ``Limits()``)."""
    limits = limits or Limits()
    if artifact.format not in ("deb", "tar"):
        return Contents(artifact, [], {})  # rpm: read on the target by rpm itself
    kind = "a readable .deb" if artifact.format == "deb" else "a readable tarball"
    try:
        with file.open("rb") as fh:
            budget = _Budget(artifact, os.fstat(fh.fileno()).st_size, limits)
            if artifact.format == "tar":
                with open_tar_stream(fh, budget.stream_cap) as tar:
                    return Contents(artifact, _members(tar, artifact.prefix, budget), {})
            parts = _ar_parts(fh, artifact)
            with _tar_part(fh, parts, "control.tar", budget) as tar:
                control = _control(tar, budget)
            with _tar_part(fh, parts, "data.tar", budget) as tar:
                return Contents(artifact, _members(tar, "/", budget), control)
    except StreamTooLong:
        raise budget.failure(f"decompresses to more than {budget.stream_cap} bytes", "archive_max_bytes") from None
    except UNREADABLE as exc:
        raise ProductFailure(f"{artifact.path} is not {kind}: {exc}") from None
