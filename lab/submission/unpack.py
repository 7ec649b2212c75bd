"""Unpacking a submission archive safely: every member is checked before anything is written.

A member with an absolute path, a ``..`` component, a link pointing outside the archive, or a
device/FIFO rejects the whole submission, and the error lists every such member.
"""

from __future__ import annotations

import posixpath
import stat
import tarfile
import zipfile
from pathlib import Path

from lab.errors import InputError


def _unsafe_name(name: str) -> str | None:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "'..' component"
    return None


def _link_escapes(member_name: str, link: str, hard: bool) -> bool:
    if link.startswith("/"):
        return True
    base = "" if hard else posixpath.dirname(member_name)
    resolved = posixpath.normpath(posixpath.join(base, link))
    return resolved == ".." or resolved.startswith("../")


def _check_tar(tar: tarfile.TarFile) -> list[str]:
    problems = []
    for m in tar.getmembers():
        why = _unsafe_name(m.name)
        if why is None and (m.issym() or m.islnk()) and _link_escapes(m.name, m.linkname, m.islnk()):
            why = f"link to {m.linkname!r} points outside the submission"
        if why is None and (m.isdev() or m.isfifo()):
            why = "device or FIFO file"
        if why:
            problems.append(f"{m.name}: {why}")
    return problems


def _check_zip(zf: zipfile.ZipFile) -> list[str]:
    problems = []
    for info in zf.infolist():
        why = _unsafe_name(info.filename)
        mode = info.external_attr >> 16
        if why is None and stat.S_ISLNK(mode):
            target = zf.read(info).decode(errors="replace")
            if _link_escapes(info.filename, target, False):
                why = f"link to {target!r} points outside the submission"
        if why is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            why = "device or FIFO file"
        if why:
            problems.append(f"{info.filename}: {why}")
    return problems


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith((".tar.gz", ".tgz", ".zip"))


def unpack(archive: Path, dest: Path) -> None:
    """Unpack into ``dest`` (which must be empty), or raise ``InputError`` having written nothing."""
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                problems = _check_zip(zf)
                if problems:
                    raise InputError(str(archive), problems)
                for info in zf.infolist():
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        link = dest / info.filename
                        link.parent.mkdir(parents=True, exist_ok=True)
                        link.symlink_to(zf.read(info).decode())
                    else:
                        zf.extract(info, dest)
        else:
            with tarfile.open(archive, "r:*") as tar:
                problems = _check_tar(tar)
                if problems:
                    raise InputError(str(archive), problems)
                tar.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InputError(str(archive), [f"not a readable archive: {exc}"]) from None
