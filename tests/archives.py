"""Archives built for the unpack tests (tests/test_unpack*.py, tests/test_deploy_contents.py), and
the ``scene`` fixture whose ``refused`` checks a refusal left nothing changed outside the unpack
folder and removed that folder."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from lab.errors import InputError
from lab.inventory.model import Limits
from lab.submission.unpack import unpack

MB = 1 << 20
SMALL = Limits(archive_max_bytes=10 * MB)


class Zeros(io.RawIOBase):
    """``n`` zero bytes, read in pieces: a bomb's content without holding it in memory."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def entry(name: str, data: bytes = b"x", mode: int = 0o644, kind: bytes = tarfile.REGTYPE, link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, io.BytesIO(data)
    return info, None


def make_tar(path: Path, entries, mode: str = "w:gz") -> Path:
    fast = {"compresslevel": 1} if mode == "w:gz" else {}
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, **fast) as tar:
        for info, data in entries:
            tar.addfile(info, data)
    return path


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, mode, size and content digest, links not followed."""
    seen = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(top, name)
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
            seen[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, digest)
    return seen


def make_scene(tmp_path: Path):
    """``tmp_path`` with a decoy folder (a 0600 secret in it), an empty ``box``, and the paths to use.

    The archive goes in ``tmp_path``; it is unpacked into ``box/files``, so ``../../decoy`` from the
    unpack folder is the decoy.
    """
    (tmp_path / "decoy").mkdir()
    secret = tmp_path / "decoy" / "flag"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    (tmp_path / "box").mkdir()

    class Scene:
        root = tmp_path
        dest = tmp_path / "box" / "files"
        flag = secret

        def refused(self, archive: Path, limits: Limits | None = None) -> list[str]:
            """Unpack, expecting a refusal; check that nothing outside changed and the folder is gone."""
            before = snapshot(tmp_path)
            with pytest.raises(InputError) as info:
                unpack(archive, self.dest, limits)
            assert info.value.source == str(archive)
            assert not self.dest.exists(), "the unpack folder must be removed"
            assert snapshot(tmp_path) == before, "something changed outside the unpack folder"
            assert self.flag.read_text() == "secret\n" and stat.S_IMODE(self.flag.stat().st_mode) == 0o600
            return info.value.problems
    return Scene()
