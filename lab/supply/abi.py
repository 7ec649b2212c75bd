"""A release's shared libraries against the earlier release's, with libabigail's ``abidiff``.

The libraries are copied out of both releases' artifacts on the controller (``.deb`` data or a
tarball, bounded like every read of a vendor's archive) and compared by their SONAME. ``abidiff``
only parses ELF and DWARF; it never runs them. It is still a parser fed vendor bytes, so it runs
with a time limit and a memory ceiling. A library whose SONAME changed declares its break (a new
major version, installed beside the old one): listed, not failed.

Example::

    libs = libraries(artifact, path, limits)         # {"libacme.so.1": b"\\x7fELF..."}
    diff = compare(old_bytes, new_bytes, "libacme.so.1")
    diff.removed   # ["function bar"], diff.changed, diff.added
"""

from __future__ import annotations

import os
import posixpath
import re
import resource
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lab.deploy.contents import UNREADABLE, _ar_parts, _Budget, _tar_part
from lab.elf import is_elf, parse
from lab.errors import InfrastructureError, ProductFailure
from lab.inventory.model import Limits
from lab.submission.model import Artifact
from lab.submission.unpack import StreamTooLong, open_tar_stream

LIB_NAME = re.compile(r"\.so(\.\d+)*$")
LIB_MAX = 256 << 20
LIBS_MAX = 200
ABIDIFF_TIMEOUT = 300         # one library
ABIDIFF_TOTAL = 900           # all of one release's: LIBS_MAX libraries at ABIDIFF_TIMEOUT each would be hours
ABIDIFF_MEMORY = 4 << 30


@dataclass
class Allowance:
    """Library bytes one release may hold in memory across all its artifacts (the lab's
    ``archive_max_bytes``): each artifact is bounded on its own, but sixty-four ``[upgrade] from``
    artifacts of 2 GiB of libraries each would otherwise all be held at once on the controller."""

    cap: int
    used: int = 0

    def take(self, artifact: Artifact, size: int) -> None:
        self.used += size
        if self.used > self.cap:
            raise ProductFailure(f"{artifact.path}: the release's shared libraries add up to more than {self.cap} "
                                 "bytes: the lab compares no more ([lab.limits] archive_max_bytes)")


@dataclass
class AbiDiff:
    library: str
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    exit_status: int = 0
    output: str = ""


def _libs_in_tar(tar, root: str, budget: _Budget, out: dict[str, bytes], allowance: Allowance | None) -> None:
    for m in tar:
        budget.member(m.size)
        if not m.isfile() or m.size > LIB_MAX or len(out) >= LIBS_MAX:
            continue
        name = m.name[2:] if m.name.startswith("./") else m.name
        path = posixpath.normpath(posixpath.join(root, name.lstrip("/")))
        if not LIB_NAME.search(path):
            continue
        fh = tar.extractfile(m)
        data = budget.count(fh.read(LIB_MAX)) if fh else b""
        if not is_elf(data):
            continue
        info = parse(path, data)
        if info is None or info.elf_type != "ET_DYN" or (info.soname or posixpath.basename(path)) in out:
            continue
        if allowance is not None:
            allowance.take(budget.artifact, len(data))
        out[info.soname or posixpath.basename(path)] = data


def libraries(artifact: Artifact, file: Path, limits: Limits | None = None,
              allowance: Allowance | None = None) -> dict[str, bytes]:
    """SONAME -> the library's bytes, for every shared library an artifact ships (counted against
    ``allowance``, shared by the artifacts of one release, when given)."""
    limits = limits or Limits()
    out: dict[str, bytes] = {}
    if artifact.format not in ("deb", "tar"):
        return out
    with file.open("rb") as fh:
        budget = _Budget(artifact, os.fstat(fh.fileno()).st_size, limits)
        try:
            if artifact.format == "tar":
                with open_tar_stream(fh, budget.stream_cap) as tar:
                    _libs_in_tar(tar, artifact.prefix or "/", budget, out, allowance)
            else:
                with _tar_part(fh, _ar_parts(fh, artifact), "data.tar", budget) as tar:
                    _libs_in_tar(tar, "/", budget, out, allowance)
        except StreamTooLong:
            raise budget.failure("decompresses to more than the lab reads", "archive_max_bytes") from None
        except UNREADABLE as exc:
            raise ProductFailure(f"{artifact.path} is not readable: {exc}") from None
    return out


def stem(soname: str) -> str:
    """``libacme.so.1`` -> ``libacme.so``: the same library across major versions."""
    return LIB_NAME.sub(".so", soname)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ABIDIFF_MEMORY, ABIDIFF_MEMORY))


def parse_abidiff(text: str, library: str, status: int) -> AbiDiff:
    diff = AbiDiff(library, exit_status=status, output=text)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s+\[([DCA])\] (.*)$", line)
        if not m:
            continue
        kind, what = m.groups()
        what = what.strip().strip("'")
        if kind == "D":
            diff.removed.append(what)
        elif kind == "A":
            diff.added.append(what)
        else:
            detail = [x.strip() for x in lines[i + 1:i + 4] if x.startswith("    ") and x.strip()]
            diff.changed.append(what + (f" ({'; '.join(detail)})" if detail else ""))
    return diff


def compare(old: bytes, new: bytes, library: str, timeout: float = ABIDIFF_TIMEOUT) -> AbiDiff:
    """``abidiff`` of two builds of one library (exit bits: 1 error, 2 usage, 4 change, 8 incompatible).
    ``timeout``: what is left of the check's ``ABIDIFF_TOTAL``, at most ``ABIDIFF_TIMEOUT``."""
    timeout = max(0.001, min(timeout, ABIDIFF_TIMEOUT))  # spent: abidiff is stopped at once
    with tempfile.TemporaryDirectory(prefix="lab-abi-") as tmp:
        a, b = Path(tmp) / "old.so", Path(tmp) / "new.so"
        a.write_bytes(old)
        b.write_bytes(new)
        try:
            r = subprocess.run(["abidiff", "--no-show-locs", str(a), str(b)], capture_output=True, text=True,
                               timeout=timeout, preexec_fn=_limits)
        except FileNotFoundError:
            raise InfrastructureError("abidiff is needed for package.abi: install Debian's abigail-tools "
                                      "(./labw does)") from None
        except subprocess.TimeoutExpired:
            raise ProductFailure(f"{library}: abidiff took longer than {timeout:g} s on it (each library may take "
                                 f"{ABIDIFF_TIMEOUT} s, all of them {ABIDIFF_TOTAL} s)") from None
    if r.returncode & 3:
        raise ProductFailure(f"{library}: abidiff cannot read it (exit {r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[:500]}")
    return parse_abidiff(r.stdout, library, r.returncode)
