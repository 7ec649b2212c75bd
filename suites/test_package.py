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
from lab.suite.libraries import TargetLibraries

SYSTEM_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")


def elves_for(deployment, target):
    elves = deployment.elves()
    if not elves:
        raise NotApplicable("the artifacts contain no ELF files")
    return [e for e in elves if e.arch == target.facts.arch]


@pytest.fixture(scope="module")
def libraries(target):
    return TargetLibraries(target.transport, target.facts.arch)


def show(items: list[str], limit: int = 25) -> str:
    """The first finding on the first line (it becomes the target's reason), the rest below."""
    more = f"\n... {len(items) - limit} more" if len(items) > limit else ""
    return "\n".join(items[:limit]) + more


@pytest.mark.check("package.elf_machine")
def test_elf_machine_matches_the_target(target, deployment):
    elves = deployment.elves()
    if not elves:
        raise NotApplicable("the artifacts contain no ELF files")
    wrong = [f"{e.path}: built for {e.arch} ({e.machine})" for e in elves if e.arch != target.facts.arch]
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
                missing.append(f"{elf.path} needs {version} from {lib}; {target.target.name} has {has}")
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
