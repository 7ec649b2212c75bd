"""Suite `security`: no world-writable or setuid/setgid files; ELF hardening and files a tarball
puts outside its prefix are reported as advisories."""

from __future__ import annotations

import shlex
import stat

import pytest

from lab.deploy.snapshot import leftovers, snapshot
from lab.errors import NotApplicable


def on_target(installed, target, test: str) -> list[str]:
    """Installed files matching a ``find`` test, read on the target (install scripts included)."""
    commands = []
    if installed.prefixes():
        commands.append(f"find {' '.join(map(shlex.quote, installed.prefixes()))} -xdev {test} -print")
    files = [m.path for _, s in installed.steps if s.contents.package for m in s.contents.members
             if not stat.S_ISDIR(m.mode)]
    if files:
        commands.append(f"find {' '.join(map(shlex.quote, files))} -maxdepth 0 {test} -print")
    if not commands:
        return []
    out = target.transport.run("; ".join(f"{c} 2>/dev/null" for c in commands) + "; true").stdout
    return sorted(set(out.split("\n")) - {""})


def listing(paths: list[str], limit: int = 30) -> str:
    more = f"\n  ... {len(paths) - limit} more" if len(paths) > limit else ""
    return "\n".join(f"  {p}" for p in paths[:limit]) + more


@pytest.mark.check("security.world_writable")
def test_no_world_writable_files(target, installed):
    packaged = [m.path for _, s in installed.steps for m in s.contents.members
                if m.mode & 0o002 and not (stat.S_ISDIR(m.mode) and m.mode & stat.S_ISVTX)]
    found = sorted(set(packaged) | set(on_target(installed, target, "-perm -0002 ! -type l ! -perm -1000")))
    assert not found, f"{len(found)} world-writable file(s) or folder(s):\n{listing(found)}"


@pytest.mark.check("security.setuid")
def test_no_setuid_or_setgid_files(target, installed):
    packaged = [m.path for _, s in installed.steps for m in s.contents.members
                if m.mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISDIR(m.mode)]
    found = sorted(set(packaged) | set(on_target(installed, target, "-type f \\( -perm -4000 -o -perm -2000 \\)")))
    assert not found, f"{len(found)} setuid/setgid file(s):\n{listing(found)}"


@pytest.mark.check("security.elf_hardening", required=False)
def test_elf_hardening(lab, deployment):
    elves = [e for e in deployment.elves() if e.elf_type in ("ET_EXEC", "ET_DYN")]
    if not elves:
        raise NotApplicable("the artifacts contain no ELF files")
    weak = []
    for e in elves:
        missing = []
        if e.interp and not e.pie:
            missing.append("PIE")
        if e.relro != "full":
            missing.append(f"full RELRO (has {e.relro})")
        if not e.nx:
            missing.append("NX stack")
        if not e.canary:
            missing.append("stack protector")
        if missing:
            weak.append(f"{e.path}: no {', '.join(missing)}")
    assert not weak, f"advisory: {len(weak)} of {len(elves)} ELF file(s) lack hardening:\n{listing(weak)}"
    lab.note(f"{len(elves)} ELF file(s): PIE, full RELRO, NX and stack protector everywhere")


@pytest.mark.check("security.outside_prefix", required=False)
def test_tarball_stays_in_its_prefix(lab, target, installed):
    prefixes = installed.prefixes()
    if not prefixes:
        raise NotApplicable("only tarballs declare a prefix")
    installed_state = lab.state.get("installed_snapshot") or snapshot(target.transport)  # taken by install.idempotent
    new = leftovers(lab.state["before_install"], installed_state)
    outside = [p for p in new if not any(p == x or p.startswith(x.rstrip("/") + "/") or
                                         x.startswith(p.rstrip("/") + "/") for x in prefixes)]
    assert not outside, (f"advisory: the install put {len(outside)} path(s) outside "
                         f"{', '.join(prefixes)}:\n{listing(outside)}")
