"""The security and leftover findings of one install, as pure functions of two states.

Each returns ``(against the product, information)``: lines naming a path and who put it there.
Only the product's packages and scripts count against it; what OS packages brought is shown.
"""

from __future__ import annotations

import posixpath

from lab.observe.owners import Owners, canonical
from lab.observe.state import (
    FsState,
    changed,
    collapse,
    created,
    is_lab_own,
    is_package_manager_own,
    is_persistent,
    rewritten,
    written,
)

SYSTEM_DIRS = ("/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/", "/etc/pam.d/",
               "/etc/sudoers", "/etc/ssh/")


def _there(before: FsState | None, path: str) -> bool:
    """The path was on the target, written beyond its image, before the install began: an OS
    dependency's file (they go in first), or one the dependencies' scripts wrote."""
    entry = before.entries.get(path) if before is not None else None
    return entry is not None and entry.kind != "deleted"


def _who(owners: Owners, path: str, before: FsState | None = None, existed: bool = False) -> tuple[str, str]:
    """Who put the path there. A file of an OS package that was there before the install and was
    changed during it is not the OS's doing (a review trojaned sudo's binary and conffiles from a
    postinst, and the lab named sudo): the install's scripts changed it."""
    kind, pkg = owners.owner(path)
    if kind == "product":
        return kind, f"{path} (in the product's package {pkg})"
    if kind == "os" and _there(before, path):
        return "scripts", f"{path} (of OS package {pkg}, there before the install; changed during it)"
    if kind == "os":
        return kind, f"{path} (from OS package {pkg})"
    return kind, f"{path} ({'changed' if existed else 'created'} by a script during the install)"


def split(paths: list[str], owners: Owners, before: FsState | None = None) -> tuple[list[str], list[str]]:
    owners.prefetch(paths)
    bad, info = [], []
    for p in paths:
        kind, line = _who(owners, p, before)
        (info if kind == "os" else bad).append(line)
    return bad, info


def _touched(before: FsState, after: FsState) -> dict:
    return {p: e for p, e in changed(before, after).items() if e.kind != "deleted"}


def setuid(before: FsState, after: FsState, owners: Owners) -> tuple[list[str], list[str]]:
    """setuid/setgid files the install created or changed, anywhere on the target: the lab's own
    folders included (it never makes such a file; a vendor's may hide there)."""
    found = sorted(p for p, e in written(before, after).items() if e.setuid)
    bad, info = split(found, owners, before)
    mode = {p: after.entries[p].mode for p in found}
    return ([f"{line} mode {mode[line.split(' ', 1)[0]] & 0o7777:04o}" for line in bad],
            [f"{line} mode {mode[line.split(' ', 1)[0]] & 0o7777:04o}" for line in info])


def from_dependencies(before: FsState, owners: Owners, kind: str) -> list[str]:
    """What the OS packages the product depends on brought before the product's install (they go
    in first, lab/deploy/deb.py, so the install's own changes do not hold them): the ``kind``
    (``setuid``, ``world_writable``) among their files, shown beside the product's findings, never
    against it. Only packages the lab fetched for this product (their file lists are the
    controller's); a board that downloads for itself names none."""
    lines = []
    for path, entry in sorted(before.entries.items()):
        if entry.kind == "deleted" or not getattr(entry, kind) or is_lab_own(path, before.own, before.spools):
            continue
        pkg = owners.os_packages.get(canonical(path))
        if pkg:
            mode = f" mode {entry.mode & 0o7777:04o}" if kind == "setuid" else ""
            lines.append(f"{path} (from OS package {pkg}, a dependency installed before the product){mode}")
    return lines


def world_writable(before: FsState, after: FsState, owners: Owners) -> tuple[list[str], list[str]]:
    """World-writable files and folders (sticky folders aside) the install created or changed,
    anywhere, the lab's own folders included, as for ``setuid``."""
    found = sorted(p for p, e in written(before, after).items() if e.world_writable)
    return split(found, owners, before)


def persistence(before: FsState, after: FsState, owners: Owners) -> tuple[list[str], list[str]]:
    """Cron jobs, services, sudoers, SSH keys, preloads... written by a script, not shipped in a
    package (a package's own are declared: information); system binaries of the image replaced."""
    touched = {**_touched(before, after), **rewritten(before, after)}
    owners.prefetch(list(touched))
    bad, info = [], []
    for path in sorted(touched):
        entry = touched[path]
        if entry.kind == "dir" or is_package_manager_own(path):
            continue
        kind, line = _who(owners, path, before, entry.existed)
        if is_persistent(path):
            enabled = _enables(path, entry, owners) if kind == "scripts" else ""
            if enabled:  # update-rc.d / deb-systemd-helper enabling a unit some package ships
                info.append(f"{path}: enables {enabled}")
            else:
                (bad if kind == "scripts" else info).append(line)
        elif entry.kind in ("file", "link") and path.startswith(SYSTEM_DIRS) and kind != "os":
            # links too: a review's postinst made /usr/bin/ss a link to a filtering script
            whose, pkg = owners.owner(path)
            if not entry.existed and not (_there(before, path) and whose == "os"):
                continue
            of = "the OS image" if entry.existed else f"OS package {pkg}"
            by = f"the product's package {pkg}" if kind == "product" else "a script during the install"
            bad.append(f"{path}: a file of {of}, replaced or changed by {by}")
    bad += shadows(before, after, owners)
    removed = sorted(p for p, e in changed(before, after).items()
                     if e.kind == "deleted" and p.startswith(SYSTEM_DIRS) and before.entries.get(p) is None)
    bad += [f"{p}: a file of the OS image, deleted during the install" for p in removed
            if owners.owner(p)[0] != "os"]
    return bad, info


# Where a program placed shadows the system's, the system folders it would shadow, and for whom:
# /usr/local comes first in every default PATH (Debian's, openEuler's, Kylin's, root's included);
# root's lists sbin before bin, so a /usr/sbin/ss hides /usr/bin/ss from it (and a hostile
# package's /usr/sbin/ss once answered the lab's own ``ss``, whose PATH then listed sbin first);
# a PATH that lists bin first (the lab's, a user's) meets a /usr/bin program hiding an sbin one.
SHADOWING = {
    "/usr/local/bin/": (("/usr/bin/", "/bin/"), "every user whose PATH lists /usr/local first (the default)"),
    "/usr/local/sbin/": (("/usr/sbin/", "/sbin/", "/usr/bin/"),
                         "every user whose PATH lists /usr/local first (the default)"),
    "/usr/sbin/": (("/usr/bin/", "/bin/"), "every PATH that lists sbin before bin (root's default)"),
    "/sbin/": (("/usr/bin/", "/bin/"), "every PATH that lists sbin before bin (root's default)"),
    "/usr/bin/": (("/usr/sbin/", "/sbin/"), "every PATH that lists bin before sbin"),
    "/bin/": (("/usr/sbin/", "/sbin/"), "every PATH that lists bin before sbin"),
}


def shadows(before: FsState, after: FsState, owners: Owners) -> list[str]:
    """A file put in a folder of the PATH under the name of a program the system has in another,
    by a package or a script: every user's (or root's, or the lab's) ``ss``, ``ls`` or ``sudo`` is
    then the product's."""
    out = []
    for path in created(before, after):
        folder, _, name = path.rpartition("/")
        system, whom = SHADOWING.get(folder + "/", ((), ""))
        if not system or after.entries[path].kind not in ("file", "link"):
            continue
        hidden = next((d + name for d in system if before.has(d + name)), None)
        if hidden is not None:
            kind, pkg = owners.owner(path)
            who = f"the product's package {pkg}" if kind == "product" else "a script during the install"
            out.append(f"{path}: put there by {who}, it shadows the system's {hidden} for {whom}")
    return out


def _enables(path: str, entry, owners: Owners) -> str:
    """For a link a script made (an init or systemd enablement link): the packaged file it points
    at and its package, or "" when it points at nothing a package ships."""
    if entry.kind != "link" or not entry.link:
        return ""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry.link))
    kind, pkg = owners.owner(target)
    if kind == "scripts":
        return ""
    return f"{target} ({'the product' if kind == 'product' else 'OS'} package {pkg})"


def users(passwd: bytes | None) -> dict[str, list[str]]:
    """The accounts of an /etc/passwd, by name: their seven fields."""
    out = {}
    for line in (passwd or b"").decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if len(f) >= 7:
            out[f[0]] = f
    return out


def accounts(passwd_before: bytes | None, passwd_after: bytes | None,
             shadow_after: bytes | None) -> tuple[list[str], list[str]]:
    """New accounts: a second uid 0 or a new account with a password is against the product, and so
    is an account of the system removed."""
    before, after = users(passwd_before), users(passwd_after)
    hashes = {}
    for line in (shadow_after or b"").decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if len(f) >= 2:
            hashes[f[0]] = f[1]
    bad, info = [], []
    if passwd_before is not None and passwd_after is None:  # the checks below would see nothing
        bad.append("/etc/passwd: not a regular file after the install (replaced by a link, or removed): "
                   "its accounts cannot be checked")
    if passwd_after is not None:  # an account of the system removed: its owner's files, its services gone
        bad += [f"account {name} (uid {before[name][2]}): removed during the install"
                for name in sorted(set(before) - set(after))]
    for name in sorted(set(after) - set(before)):
        f = after[name]
        h = hashes.get(name, "")
        if f[2] == "0":
            bad.append(f"account {name}: a new account with uid 0 (root's powers)")
        elif h and not h.startswith(("!", "*")) and h != "x":
            bad.append(f"account {name} (uid {f[2]}): a new account with a password set, shell {f[6]}")
        else:
            info.append(f"account {name} (uid {f[2]}, shell {f[6]}, no password)")
    return bad, info


def leftovers(before: FsState, after: FsState, owners: Owners) -> tuple[list[str], list[str]]:
    """Paths present after uninstall and purge that were not there before the install, anywhere
    but the lab's own folders (on a stack target, its database server's: ``FsState.own``)."""
    new = created(before, after)
    owners.prefetch(new)
    bad, info = [], []
    for path in collapse([p for p in new if owners.owner(p)[0] != "os"]):
        bad.append(_who(owners, path)[1])
    os_kept: dict[str, list[str]] = {}
    for path in new:
        kind, pkg = owners.owner(path)
        if kind == "os":
            os_kept.setdefault(pkg, []).append(path)
    for pkg, paths in sorted(os_kept.items()):
        info.append(f"{len(paths)} path(s) of OS package {pkg}, still installed (e.g. {paths[0]})")
    return bad + left_changed(before, after) + dpkg_strays(before, after, owners), info


def dpkg_strays(before: FsState, after: FsState, owners: Owners) -> list[str]:
    """Files in dpkg's records of each package (``/var/lib/dpkg/info/NAME.postinst``...) that the
    install made and the purge left, for no OS package the lab installed: a review's agent was
    kept there as the maintainer script of a package that does not exist. Only read from outside
    (a board's package database names its own)."""
    if not after.trusted:
        return []
    known = set(owners.os_packages.values())
    out = []
    for path, entry in sorted(after.entries.items()):
        folder, _, name = path.rpartition("/")
        if folder != "/var/lib/dpkg/info" or entry.kind == "deleted" or entry.existed or path in before.entries:
            continue
        if name.rpartition(".")[0].split(":")[0] not in known:
            out.append(f"{path} (created by a script during the install; dpkg knows no such package)")
    return out


def left_changed(before: FsState, after: FsState) -> list[str]:
    """What every boot, login or privilege check reads (``PERSISTENCE``) that was there before the
    install and is not as it was after the purge: another content (read from outside, against the
    state before the install or the image), another link, removed. A review's LD_PRELOAD in
    /etc/environment and lines in /etc/bash.bashrc outlived the purge unseen."""
    out = []
    for path, entry in sorted(after.entries.items()):
        if not is_persistent(path) or is_package_manager_own(path):
            continue
        was = before.entries.get(path)
        if not (_there(before, path) or (was is None and entry.existed)):
            continue
        if entry.kind == "deleted":
            out.append(f"{path}: removed during the product's life, not put back by the purge")
            continue
        reference = was.digest if was is not None else entry.image_digest
        if entry.kind == "file" and entry.digest and reference:
            if entry.digest != reference:
                out.append(f"{path}: changed during the product's life and left so by the purge")
        elif was is not None and was != entry:  # a link retargeted, a big file resized
            out.append(f"{path}: changed during the product's life and left so by the purge")
    return out


def processes_line(processes: dict[int, str]) -> list[str]:
    return [cmd or f"pid {pid}" for pid, cmd in sorted(processes.items())]


def merge(*groups: list[str]) -> list[str]:
    """Findings that start with their path, one per path (the first wording kept)."""
    out: dict[str, str] = {}
    for group in groups:
        for line in group:
            out.setdefault(line.split(" ", 1)[0], line)
    return [out[k] for k in sorted(out)]


def head(lines: list[str], n: int = 3) -> str:
    """The first few findings on one line: the line a table shows as the reason."""
    return "; ".join(lines[:n]) + (f"; ... {len(lines) - n} more" if len(lines) > n else "")


def listing(lines: list[str], limit: int = 30) -> str:
    more = f"\n  ... {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(f"  {line}" for line in lines[:limit]) + more
