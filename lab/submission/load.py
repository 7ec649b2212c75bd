"""Reading a submission (folder or archive) into a typed, checked object, once.

Everything a vendor can get wrong is found here, before any target is touched: the manifest, the
files it names, their checksums, the archive's safety. All problems are reported at once.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lab.errors import InputError
from lab.hashing import sha256_file
from lab.inventory.model import LabSettings, Limits, StabilitySettings
from lab.submission.model import RELATIVE, Submission
from lab.submission.unpack import is_archive, unpack
from lab.validation import parse_model, read_toml
from lab.wording import N_, Wording

MANIFEST = "submission.toml"


@dataclass
class LoadedSubmission:
    model: Submission
    root: Path
    source: Path
    sha256: dict[str, str] = field(default_factory=dict)  # artifact path -> digest
    _tmp: tempfile.TemporaryDirectory | None = None

    def file(self, relative: str) -> Path:
        """A file of the submission; ``InputError`` for a path that leads out of it (the model
        refuses those already: this is the last guard before the lab reads it)."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InputError(str(self.source), [f"{relative}: {RELATIVE}"])
        return path

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


LINK = Wording(N_("symbolic link (links are not accepted)"))
LINK_AT = Wording(N_("%(path)s: symbolic link (links are not accepted)"))
NOT_FOUND = Wording(N_("%(path)s not found in the submission"))
MISMATCH = Wording(N_("mismatch: %(path)s has %(sha256)s"))
NOT_A_FILE = Wording(N_("%(path)s is not a regular file"))
SQL_TOO_BIG = Wording(N_("%(path)s is larger than %(most)s"))
VERSION_DIFFERS = Wording(N_("%(version)s, but no package of the submission is that version: %(said)s"))
SQL_MAX_BYTES = 16 * 1024 * 1024  # a schema or its checks: read whole, split and quoted by the lab


def _link_along(root: Path, relative: str) -> str | None:
    """The first part of ``relative`` (under ``root``) that is a symbolic link, else None.

    Each component is ``lstat``-ed rather than the whole path resolved: a vendor's folder may hold a
    link to anywhere, and resolving it would read or hash a file outside the submission.
    """
    p = root
    for part in PurePosixPath(relative).parts:
        p = p / part
        try:
            if stat.S_ISLNK(os.lstat(p).st_mode):
                return str(p.relative_to(root))
        except OSError:
            return None  # missing: the caller says "not found"
    return None


def _links_below(root: Path, relative: str, most: int) -> list[str]:
    """Symbolic links inside the folder ``relative`` (looking at ``most`` entries at the most)."""
    found, seen = [], 0
    for top, dirs, files in os.walk(root / relative):
        for name in dirs + files:
            seen += 1
            if seen > most:
                return found
            if os.path.islink(os.path.join(top, name)):
                found.append(os.path.relpath(os.path.join(top, name), root))
    return found


def _find_root(folder: Path) -> Path:
    if (folder / MANIFEST).exists() or (folder / MANIFEST).is_symlink():
        return folder
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and not entries[0].is_symlink() and entries[0].is_dir() \
            and (entries[0] / MANIFEST).exists():
        return entries[0]
    return folder


def _check_files(model: Submission, root: Path, limits: Limits,
                 known: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    problems, digests = [], {}
    entries = [(f"artifacts[{i}]", art) for i, art in enumerate(model.artifacts)]
    if model.upgrade:  # the earlier release's artifacts: found and verified by the same rules
        entries += [(f"upgrade.from[{i}]", art) for i, art in enumerate(model.upgrade.from_)]
    for where, art in entries:
        link = _link_along(root, art.path)
        if link is not None:
            problems.append(f"{where}.path: {LINK_AT.say(path=link)}")
            continue
        p = root / art.path
        if not p.is_file():
            problems.append(f"{where}.path: {NOT_FOUND.say(path=art.path)}")
            continue
        digests[art.path] = known[art.path] if known and art.path in known else sha256_file(p)
        if art.sha256 and art.sha256 != digests[art.path]:
            problems.append(f"{where}.sha256: {MISMATCH.say(path=art.path, sha256=digests[art.path])}")
    if not known:  # a worker receives what the controller checked, versions included
        problems += _version_problems(model, root, limits, digests)
    optional = []
    if model.database:
        optional += [("database.schema", model.database.schema_), ("database.checks", model.database.checks)]
    if model.tests:
        optional += [(f"tests.paths[{i}]", p) for i, p in enumerate(model.tests.paths)]
    for where, rel in optional:
        if not rel:
            continue
        link = _link_along(root, rel)
        if link is not None:
            problems.append(f"{where}: {LINK_AT.say(path=link)}")
        elif not (root / rel).exists():
            problems.append(f"{where}: {NOT_FOUND.say(path=rel)}")
        elif where.startswith("database.") and not (root / rel).is_file():
            problems.append(f"{where}: {NOT_A_FILE.say(path=rel)}")
        elif where.startswith("database.") and (root / rel).stat().st_size > SQL_MAX_BYTES:
            problems.append(f"{where}: {SQL_TOO_BIG.say(path=rel, most=f'{SQL_MAX_BYTES // 2**20} MiB')}")
        elif (root / rel).is_dir():
            inside = _links_below(root, rel, limits.archive_max_members)
            problems += [f"{where}: {LINK_AT.say(path=inner)}" for inner in inside]
    return problems, digests


def _missing_raw(data: dict, root: Path) -> list[str]:
    """The artifacts a manifest that does not parse names but the submission lacks."""
    found = []
    arts = data.get("artifacts") if isinstance(data, dict) else None
    for i, art in enumerate(arts if isinstance(arts, list) else []):
        path = art.get("path") if isinstance(art, dict) else None
        if isinstance(path, str) and path and not path.startswith("/") and ".." not in path.split("/") \
                and "\0" not in path and _link_along(root, path) is None and not (root / path).is_file():
            found.append(f"artifacts[{i}].path: {NOT_FOUND.say(path=path)}")
    return found


def same_version(claimed: str, package: str) -> bool:
    """A package's version is the product's: ``1.6.18`` for ``1:1.6.18-1+deb12u1``, a release of it
    (``2.0`` for ``2.0.1-1``) or the package's with words added (``2.0.1 SP1`` for ``2.0.1``); never
    another (``3.0.0`` for ``1.0.0``, ``1`` for ``10.0``), nor a pre-release (``3.0.0`` for
    ``3.0.0~rc1``, which Debian orders before 3.0.0), nor a later version than the package's
    (``1.0.9`` for ``1.0``: found by a hostile review)."""
    epoch, colon, rest = package.partition(":")
    version = rest if colon and epoch.isdigit() else package

    def extends(longer: str, shorter: str, by: str) -> bool:
        return longer.startswith(shorter) and len(longer) > len(shorter) and by(longer[len(shorter)])

    release = lambda c: c in ".-+"  # noqa: E731  (a further release part, the packaging revision, a build)
    words = lambda c: not c.isalnum() and c not in ".-+~:_"  # noqa: E731  (" SP1", " (LTS)"; no version part)
    return bool(version) and (version == claimed or extends(version, claimed, release)
                              or extends(claimed, version, words))


def _version_problems(model: Submission, root: Path, limits: Limits, found: dict[str, str]) -> list[str]:
    """The version a certificate will name is the one its packages carry (a vendor's found a signed
    3.0.0 for a package that said 1.0.0): at least one .deb of ``[[artifacts]]`` must be
    ``[product] version`` or a release of it. (A .deb that cannot be read fails install.package, as
    ever, with the reason; rpm headers are read on the target, by rpm; a tarball carries no version.)"""
    from lab.deploy.contents import read_control
    from lab.errors import ProductFailure

    versions: list[tuple[str, str, str]] = []  # (path, package, version) of each readable .deb
    for art in model.artifacts:
        if art.format != "deb" or art.path not in found:
            continue
        try:
            control = read_control(art, root / art.path, limits)
        except ProductFailure:
            continue  # unreadable: its install fails; the others are still checked
        versions.append((art.path, control.get("Package", ""), control.get("Version", "")))
    # the package named as the product is the product's version; else any one of them
    named = [v for v in versions if v[1] == model.product.name] or versions
    if not named or any(same_version(model.product.version, version) for _, _, version in named):
        return []
    said = "; ".join(f"{path} is {version or 'of no version'}" for path, _, version in named)
    return [f"product.version: {VERSION_DIFFERS.say(version=model.product.version, said=said)}"]


def load_submission(source: Path | str, limits: Limits | None = None,
                    digests: dict[str, str] | None = None,
                    stability: StabilitySettings | None = None,
                    also: Callable[[Submission], list[str]] | None = None) -> LoadedSubmission:
    """Parse and check a submission folder or ``.tar.gz``/``.zip``; raises ``InputError``.

    ``limits`` are the lab's (``[lab.limits]`` of the inventory; default ``Limits()``): they cap
    what an archive may unpack to and what the manifest's own ``[limits]`` may ask for.
    ``digests``: the artifacts' sha256 as the controller already computed them, for a worker that
    receives the controller's unpacked folder (a run hashes each artifact once, not once per target).
    ``stability``: the lab's ``[lab.stability]`` (default ``StabilitySettings()``), whose
    ``max_duration`` caps the manifest's ``[stability] duration``. ``also``: more problems of the
    parsed manifest, said with the rest (``lab validate``: its claims against the lab's targets).
    """
    source = Path(source)
    limits = limits or Limits()
    if not source.exists():
        raise InputError(str(source), ["no such file or folder"])
    tmp = None
    if is_archive(source):
        tmp = tempfile.TemporaryDirectory(prefix="lab-submission-")  # 0700: nobody else reaches inside
        try:
            unpack(source, Path(tmp.name) / "files", limits)
        except BaseException:
            tmp.cleanup()
            raise
        root = _find_root(Path(tmp.name) / "files")
    elif source.is_dir():
        root = _find_root(source)
    else:
        raise InputError(str(source), ["not a folder, .tar.gz or .zip"])
    manifest = root / MANIFEST
    try:
        if manifest.is_symlink():
            raise InputError(str(manifest), [LINK])
        data = read_toml(manifest)
        try:
            model = parse_model(Submission, data, str(manifest))
        except InputError as exc:  # the artifacts it names are looked for all the same: one round
            raise InputError(exc.source, exc.problems + _missing_raw(data, root)) from None
        problems, digests = _check_files(model, root, limits, digests)
        if also is not None:
            problems += also(model)
        problems += model.limits.problems(limits)
        if model.stability:
            problems += model.stability.problems(stability or StabilitySettings())
        if not problems:
            problems += model.budget_problems(limits, stability or StabilitySettings())
        if problems:
            raise InputError(str(source), [f"{manifest}: {p}" for p in problems])
    except BaseException:
        if tmp:
            tmp.cleanup()
        raise
    return LoadedSubmission(model, root.resolve(), source, digests, tmp)


def load_for_lab(source: Path | str, lab: LabSettings, digests: dict[str, str] | None = None,
                 also: Callable[[Submission], list[str]] | None = None) -> LoadedSubmission:
    """``load_submission`` under one lab's settings (``[lab]`` of its inventory): every caller that has
    an inventory checks a submission against the same limits, the command line, workers and the service alike."""
    return load_submission(source, lab.limits, digests, stability=lab.stability, also=also)
