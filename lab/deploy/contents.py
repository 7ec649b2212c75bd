"""What an artifact contains, read on the controller without installing or running anything.

The package suite judges these files (ELF machine, symbol versions, runpaths); the security suite
judges their modes. Paths are where the files land on the target.
"""

from __future__ import annotations

import posixpath
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from debian.debfile import DebError, DebFile

from lab.elf import ElfInfo, parse
from lab.errors import ProductFailure
from lab.submission.model import Artifact

MAX_READ = 256 << 20  # ELF headers of larger files are still read; content beyond is not needed


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


def _members(tar: tarfile.TarFile, root: str) -> list[Member]:
    out = []
    for m in tar:
        name = m.name[2:] if m.name.startswith("./") else m.name
        path = posixpath.normpath(posixpath.join(root, name.lstrip("/")))
        if m.isdir():
            out.append(Member(path, m.mode | stat.S_IFDIR, 0, None))
            continue
        if not m.isfile():
            continue
        fh = tar.extractfile(m)
        data = fh.read(MAX_READ) if fh else b""
        out.append(Member(path, m.mode | stat.S_IFREG, m.size, parse(path, data)))
    return out


def read_contents(artifact: Artifact, file: Path) -> Contents:
    if artifact.format == "deb":
        try:
            deb = DebFile(str(file))
            control = dict(deb.debcontrol())
            members = _members(deb.data.tgz(), "/")
        except (DebError, tarfile.TarError, OSError, KeyError) as exc:
            raise ProductFailure(f"{artifact.path} is not a readable .deb: {exc}") from None
        return Contents(artifact, members, control)
    if artifact.format == "tar":
        try:
            with tarfile.open(file, "r:*") as tar:
                return Contents(artifact, _members(tar, artifact.prefix), {})
        except (tarfile.TarError, OSError) as exc:
            raise ProductFailure(f"{artifact.path} is not a readable tarball: {exc}") from None
    return Contents(artifact, [], {})  # rpm: read on the target by rpm itself
