"""Suite `package`: every ELF file of the artifacts fits the target.

Machine type (a wrong-arch binary fails even where qemu would run it), the GLIBC_/GLIBCXX_ symbol
versions it needs (read from the target's own libraries), its NEEDED libraries after install,
and no RPATH/RUNPATH into build or outside folders.
"""

from __future__ import annotations

import posixpath

import pytest

from lab.elf import version_key
from lab.errors import NotApplicable
from lab.reasons import BUILT_FOR, NEEDS_VERSION
from lab.suite.libraries import TargetLibraries

SYSTEM_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")


def elves_for(deployment, target):
    elves = deployment.elves()
    if not elves:
        raise NotApplicable("the artifacts contain no ELF files")
    return [e for e in elves if e.arch == target.facts.arch]


@pytest.fixture(scope="module")
def libraries(target):
    observer = target.observer()
    return TargetLibraries(target.transport, target.facts.arch, read=observer.read if observer.trusted else None)


def show(items: list[str], limit: int = 25) -> str:
    """The first finding on the first line (it becomes the target's reason), the rest below."""
    more = f"\n... {len(items) - limit} more" if len(items) > limit else ""
    return "\n".join(items[:limit]) + more


@pytest.mark.check("package.elf_machine")
def test_elf_machine_matches_the_target(target, deployment):
    elves = deployment.elves()
    if not elves:
        raise NotApplicable("the artifacts contain no ELF files")
    wrong = [BUILT_FOR.say(path=e.path, arch=e.arch, machine=e.machine) for e in elves if e.arch != target.facts.arch]
    emulated = " (this target runs under qemu-user, which could hide this)" if target.facts.emulated else ""
    assert not wrong, (f"{show(wrong)}\n{len(wrong)} ELF file(s) are not for {target.facts.arch}, the "
                       f"architecture of {target.target.name}{emulated}")


@pytest.mark.check("package.symbol_versions")
def test_symbol_versions_exist_on_the_target(target, deployment, libraries):
    elves = elves_for(deployment, target)
    own = {e.soname or posixpath.basename(e.path) for e in elves}
    missing = []
    for elf in elves:
        for lib, versions in sorted(elf.version_needs.items()):
            if lib in own:
                continue
            defined = libraries.definitions(lib)
            if defined is None:
                continue  # an absent library is package.needed_libraries' finding
            for version in sorted(versions - defined, key=version_key):
                prefix = version_key(version)[0]
                newest = max((d for d in defined if version_key(d)[0] == prefix), key=version_key,
                             default="none")
                has = f"glibc {target.facts.glibc}, newest {newest}" if prefix == "GLIBC" else f"newest {newest}"
                missing.append(NEEDS_VERSION.say(path=elf.path, version=version, lib=lib, target=target.target.name,
                                                 has=has))
    assert not missing, show(missing)


@pytest.mark.check("package.needed_libraries")
def test_needed_libraries_resolve_after_install(target, installed, libraries):
    libraries.refresh()
    elves = elves_for(installed, target)
    provided = {e.soname for e in elves if e.soname} | {posixpath.basename(p)
                                                        for p in installed.installed_paths()}
    unresolved = []
    for elf in elves:
        for lib in elf.needed:
            if lib in provided or libraries.has(lib):
                continue
            dirs = [d.replace("$ORIGIN", posixpath.dirname(elf.path)).replace("${ORIGIN}", posixpath.dirname(elf.path))
                    for d in elf.runpath + elf.rpath]
            if any(libraries.exists(posixpath.join(d, lib)) for d in dirs):
                continue
            unresolved.append(f"{elf.path} needs {lib}, which {target.target.name} does not provide "
                              "even after installing the package and its dependencies")
    assert not unresolved, show(unresolved)


@pytest.mark.check("package.runpath")
def test_no_runpath_to_build_or_outside_folders(target, deployment):
    elves = deployment.elves()
    if not elves:
        raise NotApplicable("the artifacts contain no ELF files")
    own_roots = tuple(p.rstrip("/") + "/" for p in deployment.prefixes())
    bad = []
    for elf in elves:
        for kind, entries in (("RPATH", elf.rpath), ("RUNPATH", elf.runpath)):
            for entry in entries:
                if entry.startswith(("$ORIGIN", "${ORIGIN}")):
                    continue
                if entry.startswith(SYSTEM_DIRS) or (own_roots and (entry + "/").startswith(own_roots)):
                    continue
                bad.append(f"{elf.path}: {kind} {entry or '(empty)'} is outside the system and the "
                           "package (a build folder?)")
    assert not bad, show(bad)


@pytest.mark.check("package.abi")
def test_libraries_keep_the_earlier_release_abi(lab, target, deployment):
    """Each shared library against the same library (by SONAME) of the release named in ``[upgrade]``."""
    import time

    from lab.inventory.model import Limits
    from lab.supply.abi import ABIDIFF_TOTAL, Allowance, compare, libraries, stem

    upgrade = lab.submission.model.upgrade  # given: lab/suite/applicable.py skips the check without it
    limits = target.lab.limits if target.lab else None
    cap = (limits or Limits()).archive_max_bytes
    new: dict[str, bytes] = {}
    mine = Allowance(cap)
    for _, staged in deployment.steps:
        new.update(libraries(staged.artifact, staged.local, limits, mine))
    if not new:
        raise NotApplicable("the artifacts ship no shared libraries")
    old: dict[str, bytes] = {}
    earlier = Allowance(cap)
    for art in upgrade.from_:
        old.update(libraries(art, lab.submission.file(art.path), limits, earlier))
    old_by_stem = {stem(s): s for s in old}
    bad, added, notes = [], [], []
    deadline = time.monotonic() + ABIDIFF_TOTAL
    for soname, data in sorted(new.items()):
        before = soname if soname in old else old_by_stem.get(stem(soname))
        if before is None:
            notes.append(f"{soname}: new in this release")
            continue
        if before != soname:
            notes.append(f"{soname}: SONAME changed from {before} (a declared break, installed beside the old)")
            continue
        diff = compare(old[before], data, soname, timeout=deadline - time.monotonic())
        bad += [f"{soname}: {what} removed" for what in diff.removed]
        bad += [f"{soname}: {what} changed" for what in diff.changed]
        added += [f"{soname}: {what} added" for what in diff.added]
    gone = sorted(s for s in old if s not in new and stem(s) not in {stem(n) for n in new})
    notes += [f"{s}: no longer shipped" for s in gone]
    extra = "\n".join(filter(None, [show(added) and f"added:\n{show(added)}", show(notes) and f"also:\n{show(notes)}"]))
    assert not bad, (f"{len(bad)} exported symbol(s) removed or changed since the earlier release: {show(bad)}"
                     + (f"\n{extra}" if extra else ""))
    lab.note(f"{len(new)} librar{'y' if len(new) == 1 else 'ies'} keep the earlier release's interface"
             + (f"; {len(added)} symbol(s) added: {'; '.join(added[:5])}" if added else "")
             + (f"; {'; '.join(notes[:3])}" if notes else ""))
