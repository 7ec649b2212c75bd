"""Reading a submission (folder or archive) into a typed, checked object, once.

Everything a vendor can get wrong is found here, before any target is touched: the manifest, the
files it names, their checksums, the archive's safety. All problems are reported at once.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import InputError
from lab.submission.model import Submission
from lab.submission.unpack import is_archive, unpack
from lab.validation import parse_model, read_toml

MANIFEST = "submission.toml"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class LoadedSubmission:
    model: Submission
    root: Path
    source: Path
    sha256: dict[str, str] = field(default_factory=dict)  # artifact path -> digest
    _tmp: tempfile.TemporaryDirectory | None = None

    def file(self, relative: str) -> Path:
        return self.root / relative

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _inside(root: Path, relative: str) -> Path | None:
    """The resolved file, or None if it (through links) leaves the submission."""
    p = (root / relative).resolve()
    return p if p.is_relative_to(root.resolve()) else None


def _find_root(folder: Path) -> Path:
    if (folder / MANIFEST).exists():
        return folder
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / MANIFEST).exists():
        return entries[0]
    return folder


def _check_files(model: Submission, root: Path, manifest: str) -> tuple[list[str], dict[str, str]]:
    problems, digests = [], {}
    for i, art in enumerate(model.artifacts):
        p = _inside(root, art.path)
        if p is None:
            problems.append(f"artifacts[{i}].path: {art.path} points outside the submission")
            continue
        if not p.is_file():
            problems.append(f"artifacts[{i}].path: {art.path} not found in the submission")
            continue
        digests[art.path] = sha256_file(p)
        if art.sha256 and art.sha256 != digests[art.path]:
            problems.append(f"artifacts[{i}].sha256: mismatch: {art.path} has {digests[art.path]}")
    optional = []
    if model.database:
        optional += [("database.schema", model.database.schema_), ("database.checks", model.database.checks)]
    if model.tests:
        optional += [(f"tests.paths[{i}]", p) for i, p in enumerate(model.tests.paths)]
    for where, rel in optional:
        if rel and (_inside(root, rel) is None or not (root / rel).exists()):
            problems.append(f"{where}: {rel} not found in the submission")
    return [f"{manifest}: {p}" for p in problems], digests


def load_submission(source: Path | str) -> LoadedSubmission:
    """Parse and check a submission folder or ``.tar.gz``/``.zip``; raises ``InputError``."""
    source = Path(source)
    if not source.exists():
        raise InputError(str(source), ["no such file or folder"])
    tmp = None
    if is_archive(source):
        tmp = tempfile.TemporaryDirectory(prefix="lab-submission-")
        try:
            unpack(source, Path(tmp.name))
        except InputError:
            tmp.cleanup()
            raise
        root = _find_root(Path(tmp.name))
    elif source.is_dir():
        root = _find_root(source)
    else:
        raise InputError(str(source), ["not a folder, .tar.gz or .zip"])
    manifest = root / MANIFEST
    try:
        model = parse_model(Submission, read_toml(manifest), str(manifest))
        problems, digests = _check_files(model, root, str(manifest))
        if problems:
            raise InputError(str(source), problems)
    except InputError:
        if tmp:
            tmp.cleanup()
        raise
    return LoadedSubmission(model, root.resolve(), source, digests, tmp)
