"""The submissions' archives the catalogue keeps, content-addressed, so the lab can run a
certified submission again (``lab recertify``) exactly as it was: ``<sha256>.tar.gz`` (or
``.zip``) in the archives folder beside the catalogue.

A submission given as an archive is kept byte for byte (its sha256 is the file's); one given as a
folder is packed first into a reproducible ``.tar.gz`` (sorted members, no owners, no dates), so
the same folder is kept once. Only regular files and folders are packed: a link is never followed.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy import Engine

from lab.errors import InfrastructureError, InputError
from lab.submission.load import sha256_file

ENV = "LAB_ARCHIVES"
SUFFIXES = (".tar.gz", ".tgz", ".zip")


def archives_dir(engine: Engine) -> Path:
    """``$LAB_ARCHIVES``; else ``archives/`` beside a SQLite catalogue; else the service's storage
    (``$LAB_STORAGE/archives``); else ``reports/archives`` here."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "archives"
    if os.environ.get("LAB_STORAGE"):
        return Path(os.environ["LAB_STORAGE"]) / "archives"
    return Path("reports") / "archives"




def _pack(folder: Path, into: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        return info

    with into.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False, filter=clean)


def keep(source: Path, folder: Path) -> str:
    """Keep ``source`` (a submission folder or archive) in ``folder``; its name there."""
    source = Path(source)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".incoming-") as tmp:
        staged = Path(tmp) / "archive"
        if source.is_dir():
            _pack(source, staged)
            suffix = ".tar.gz"
        elif source.is_file() and source.name.endswith(SUFFIXES):
            shutil.copyfile(source, staged)
            suffix = ".zip" if source.name.endswith(".zip") else ".tar.gz"
        else:
            raise InputError(str(source), ["not a submission folder or archive: it cannot be kept"])
        name = sha256_file(staged) + suffix
        final = folder / name
        if not final.exists():
            os.replace(staged, final)
    return name


def path_of(engine: Engine, name: str) -> Path:
    """Where a kept archive is; ``InfrastructureError`` when it is gone."""
    if "/" in name or name.startswith(".") or not name.endswith(SUFFIXES):
        raise InfrastructureError(f"the catalogue names a kept archive {name!r} that is not one")
    path = archives_dir(engine) / name
    if not path.is_file():
        raise InfrastructureError(f"the kept archive {path} is missing: the submission cannot be run again")
    got = sha256_file(path)
    if not name.startswith(got):
        raise InfrastructureError(f"the kept archive {path} has sha256 {got}: it was altered")
    return path
