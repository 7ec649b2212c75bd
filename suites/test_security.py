"""Suite `security`: everything the install changed, anywhere on the target, read from outside it.

No setuid/setgid or world-writable file of the product's or created by its scripts; no cron job,
service, sudoers entry, SSH key or preload planted by a script; no OS binary replaced; no new
account with root's uid or a password. The OS packages a .deb depends on are installed before the
"before" state is taken (lab/deploy/deb.py): what they bring is the OS's, in the SBOM, and their
setuid and world-writable files are shown beside the findings; files OS packages brought otherwise
are shown too, never held against the product. ELF hardening, daemons left
running and files a tarball puts outside its prefix are advisories.
"""

from __future__ import annotations

import stat

import pytest

from lab.errors import NotApplicable
from lab.observe import findings
from lab.observe.state import collapse, created, new_processes
from lab.reasons import SETUID, SYSTEM_CHANGES, WORLD_WRITABLE
from lab.suite.applicable import ONLY_TARBALLS
from lab.wording import Wording


def states(lab):
    if lab.state.before_install is None or lab.state.installed is None:
        raise NotApplicable("needs the product installed (install.package)")
    return lab.state.before_install, lab.state.installed


def judged(bad: list[str], info: list[str], found: Wording, lab) -> None:
    held = {line.split(" ", 1)[0] for line in bad}
    info = [line for line in info if line.split(" ", 1)[0] not in held]  # a path is told once
    shown = f"\nnot the product's (from OS packages):\n{findings.listing(info)}" if info else ""
    assert not bad, found.say(count=len(bad), said=findings.head(bad)) + f"\n{findings.listing(bad)}{shown}"
    if info:
        lab.note(f"none of the product's; from OS packages: {findings.head(info)}")


def packaged(installed, test) -> list[str]:
    """Files whose mode in the product's own package already fails ``test`` (before any script)."""
    return [f"{m.path} (in the product's package {s.contents.package or s.name}) mode {m.mode & 0o7777:04o}"
            for _, s in installed.steps for m in s.contents.members if test(m.mode)]


@pytest.mark.check("security.world_writable")
def test_no_world_writable_files(lab, installed):
    before, after = states(lab)
    owners = lab.owners()
    bad, info = findings.world_writable(before, after, owners)
    listed = packaged(installed, lambda m: m & 0o002 and not (stat.S_ISDIR(m) and m & stat.S_ISVTX))
    judged(findings.merge(bad, listed), info + findings.from_dependencies(before, owners, "world_writable"),
           WORLD_WRITABLE, lab)


@pytest.mark.check("security.setuid")
def test_no_setuid_or_setgid_files(lab, installed):
    before, after = states(lab)
    owners = lab.owners()
    bad, info = findings.setuid(before, after, owners)
    listed = packaged(installed, lambda m: m & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISDIR(m))
    judged(findings.merge(bad, listed), info + findings.from_dependencies(before, owners, "setuid"), SETUID, lab)


@pytest.mark.check("security.system_files")
def test_no_planted_jobs_accounts_or_replaced_binaries(lab, target, installed):
    before, after = states(lab)
    bad, info = findings.persistence(before, after, lab.owners())
    accounts_bad, accounts_info = findings.accounts(lab.state.passwd_before, target.observer().read("/etc/passwd"),
                                                    target.observer().read("/etc/shadow"))
    bad += accounts_bad
    info += accounts_info
    shown = f"\nshown, not held against the product:\n{findings.listing(info)}" if info else ""
    assert not bad, SYSTEM_CHANGES.say(count=len(bad), said=findings.head(bad)) + f"\n{findings.listing(bad)}{shown}"
    lab.note("no planted job, account or replaced binary" + (f"; {findings.head(info)}" if info else ""))


@pytest.mark.check("security.daemons")
def test_no_daemon_left_running_by_the_install(lab, installed):
    before, after = states(lab)
    running = findings.processes_line(new_processes(before, after))
    assert not running, (f"advisory: {len(running)} process(es) started by the install keep running: "
                         f"{findings.head(running)}\n{findings.listing(running)}")


@pytest.mark.check("security.elf_hardening")
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
    assert not weak, f"advisory: {len(weak)} of {len(elves)} ELF file(s) lack hardening:\n{findings.listing(weak)}"
    lab.note(f"{len(elves)} ELF file(s): PIE, full RELRO, NX and stack protector everywhere")


@pytest.mark.check("security.outside_prefix")
def test_tarball_stays_in_its_prefix(lab, installed):
    prefixes = installed.prefixes()
    if not prefixes:
        raise NotApplicable(ONLY_TARBALLS)
    before, after = states(lab)
    outside = [p for p in collapse(created(before, after))
               if not any(p == x or p.startswith(x.rstrip("/") + "/") or x.startswith(p.rstrip("/") + "/")
                          for x in prefixes)]
    assert not outside, (f"advisory: the install put {len(outside)} path(s) outside "
                         f"{', '.join(prefixes)}:\n{findings.listing(outside)}")
