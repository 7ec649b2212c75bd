"""A target's state at one moment (files written, processes running) and the comparisons of two.

Example::

    before = observer.state()
    ...install...
    new = added(before, observer.state())        # paths the install created, folders collapsed
"""

from __future__ import annotations

import abc
import fnmatch
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

# Folders the lab itself writes on every target, never the product's: its staging (and a board's
# file listing), the supervised service's home, the rpm downloads. Folders only: a vendor's
# /var/tmp/lab-staging-x is the vendor's.
LAB_OWN = ("/var/tmp/lab-staging/", "/var/tmp/lab-service/", "/var/tmp/lab-rpm-deps/")
# The data and logs of the database server the lab runs inside a stack target: the vendor's schema
# lives there, not the vendor's files. The lab's only on a target whose inventory names that engine
# (``database_own``); anywhere else a package writing there is the package's.
DATABASE_OWN = {"postgresql": ("/var/lib/postgresql/", "/var/log/postgresql/"),
                "mysql": ("/var/lib/mysql/", "/var/log/mysql/")}
# Bookkeeping the package manager keeps for every package: not a leftover of the product. Exact
# files (with their ``-old``/``-frontend``/``.old`` siblings), folders (``dir/``) and a folder's
# files by name (``dir/*.bin``: that folder only, not below). Only what the tools write: a
# review hid an agent in /var/cache/apt, /var/lib/apt, /var/cache/debconf, /var/lib/ucf,
# /root/.cache, /etc/passwd-acme and /usr/share/info/dir.acme while the whole folders (and any
# ``name-``/``name.`` sibling) were exempt; a second review in polkit's and deb-systemd-helper's
# folders and /var/cache/man. Other files under /var/lib/dpkg (a planted "backdoor", say) are the
# product's, and so are maintainer scripts of no package left after the purge (``dpkg_strays``).
PACKAGE_MANAGER_OWN = ("/var/lib/dpkg/status", "/var/lib/dpkg/available", "/var/lib/dpkg/lock",
                       "/var/lib/dpkg/triggers/", "/var/lib/dpkg/updates/", "/var/lib/dpkg/diversions",
                       "/var/lib/dpkg/statoverride", "/var/lib/dpkg/cmethopt", "/var/lib/dpkg/alternatives/",
                       "/var/lib/dpkg/arch", "/var/lib/apt/lists/", "/var/lib/apt/extended_states",
                       "/var/lib/apt/periodic/", "/var/lib/apt/mirrors/", "/var/lib/apt/daily_lock",
                       "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb", "/var/cache/apt/archives/lock",
                       "/var/cache/apt/archives/partial/", "/var/cache/apt/archives=",
                       "/var/cache/debconf/*.dat", "/var/cache/debconf/*.dat-old",
                       "/var/cache/ldconfig/", "/etc/ld.so.cache", "/var/log/apt/*.log", "/var/log/apt/*.log.*",
                       "/var/log/dpkg.log", "/var/log/alternatives.log", "/var/log/fontconfig.log",
                       "/var/lib/dnf/", "/var/lib/rpm/", "/var/cache/dnf/", "/var/log/dnf*.log", "/var/log/hawkey.log",
                       "/var/lib/ucf/hashfile", "/var/lib/ucf/hashfile.*", "/var/lib/ucf/registry",
                       "/var/lib/ucf/registry.*",
                       "/var/lib/ucf/cache/", "/etc/passwd-=", "/etc/group-=", "/etc/shadow-=", "/etc/gshadow-=",
                       "/etc/subuid-=", "/etc/subgid-=", "/usr/share/info/dir", "/var/cache/man/*.db",
                       "/var/cache/man/*/*.db", "/var/cache/man/CACHEDIR.TAG",
                       "/var/cache/man/*/CACHEDIR.TAG", "/etc/.pwd.lock")
# What dpkg keeps in /var/lib/dpkg/info for each package, by extension (``acme.postinst``): any
# other file there is a file like any other.
DPKG_INFO = ("list", "md5sums", "conffiles", "preinst", "postinst", "prerm", "postrm", "config", "templates",
             "shlibs", "symbols", "triggers", "triggers-noawait")
# Where a planted file changes how the whole system behaves, whoever later logs in or boots.
PERSISTENCE = ("/etc/cron.d/", "/etc/cron.daily/", "/etc/cron.hourly/", "/etc/cron.weekly/",
               "/etc/cron.monthly/", "/etc/crontab", "/var/spool/cron/", "/etc/systemd/system/",
               "/usr/lib/systemd/system/", "/lib/systemd/system/", "/etc/init.d/", "/etc/rc", "/etc/sudoers",
               "/etc/sudoers.d/", "/etc/profile.d/", "/etc/ld.so.preload", "/etc/ld.so.conf.d/",
               "/root/.ssh/", "/etc/ssh/", "/etc/pam.d/", "/etc/security/", "/etc/xdg/autostart/",
               # what every login shell reads (a review's LD_PRELOAD in /etc/environment)
               "/etc/environment", "/etc/bash.bashrc", "/etc/profile", "/root/.profile", "/root/.bashrc",
               "/root/.bash_profile", "/etc/skel/",
               # who may do what as whom: polkit's rules and local authorities
               "/etc/polkit-1/", "/var/lib/polkit-1/", "/usr/share/polkit-1/rules.d/")
# Virtual and per-boot file systems: nothing there is installed.
VIRTUAL = ("/proc/", "/sys/", "/dev/", "/run/")


SIBLINGS = ("-old", "-frontend", ".old")


def _matches(path: str, prefixes: tuple[str, ...]) -> bool:
    """``dir/`` matches the folder and below; ``dir/*.bin`` the folder's files so named (not
    below: ``*`` matches within one component); ``name=`` that path alone; ``name`` the path,
    below it, and its ``-old``/``-frontend``/``.old`` siblings."""
    for p in prefixes:
        if p.endswith("/"):
            if path == p[:-1] or path.startswith(p):
                return True
        elif "*" in p:  # component by component: a ``*`` never crosses a "/"
            want, have = p.split("/"), path.split("/")
            if len(want) == len(have) and all(fnmatch.fnmatchcase(h, w) for h, w in zip(have, want, strict=True)):
                return True
        elif p.endswith("="):
            if path == p[:-1]:
                return True
        elif path == p or path.startswith(p + "/") or path in (p + s for s in SIBLINGS):
            return True
    return False


def database_own(spec) -> tuple[str, ...]:
    """The folders the lab's own database server writes on a target whose inventory ``database``
    is ``spec`` (lab/inventory/model.py): none without one, or when the server is external."""
    if spec is None or spec.external is not None:
        return ()
    return DATABASE_OWN.get(spec.engine, ())


def is_lab_own(path: str, own: tuple[str, ...] = (), spools: frozenset[str] = frozenset()) -> bool:
    """The lab's own path on any target, under ``own`` (this target's, from ``database_own``), or one
    of the files its transport put there for a moment (``spools``, by exact name: a vendor's file
    named like a spool is the vendor's)."""
    return path in spools or _matches(path, LAB_OWN + own) or _matches(path, VIRTUAL)


def is_persistent(path: str) -> bool:
    """A path every boot, login or privilege check reads (``PERSISTENCE``)."""
    return any(path.startswith(p) or path == p.rstrip("/") for p in PERSISTENCE)


def is_package_manager_own(path: str) -> bool:
    folder, _, name = path.rpartition("/")
    if folder == "/var/lib/dpkg/info":  # dpkg's own records of each package, by their extension
        return name.rpartition(".")[2] in DPKG_INFO and not name.startswith(".")
    return _matches(path, PACKAGE_MANAGER_OWN)


@dataclass(frozen=True)
class Entry:
    """One path the target wrote. ``kind``: file, dir, link, other, deleted."""

    kind: str
    mode: int
    uid: int = 0
    size: int = 0
    existed: bool = False  # the image already had this path: a change, not a creation
    link: str = ""         # a symbolic link's target, as written
    # When the host's kernel last saw the inode change (ctime, read from outside; 0 where unknown).
    # Not part of equality: a trigger that rewrites a cache to the same bytes is no change. It tells
    # a same-size, same-mode rewrite of a file that was there before (``rewritten``).
    changed_ns: int = field(default=0, compare=False)
    # A persistent file's content (``PERSISTENCE``: few, small) and the same path's in the image,
    # sha256, read from outside; "" where not read. What a purge must have put back is compared by
    # content: a tool that regenerates a file to the same bytes (pam-auth-update) changed nothing.
    digest: str = field(default="", compare=False)
    image_digest: str = field(default="", compare=False)

    def rewritten_since(self, earlier: Entry) -> bool:
        """Written again since ``earlier`` (the inode's change time moved), where both times are known."""
        return bool(earlier.changed_ns and self.changed_ns and earlier.changed_ns != self.changed_ns)

    @property
    def setuid(self) -> bool:
        return self.kind == "file" and bool(self.mode & (stat.S_ISUID | stat.S_ISGID))

    @property
    def world_writable(self) -> bool:
        if self.kind not in ("file", "dir") or not self.mode & stat.S_IWOTH:
            return False
        return not (self.kind == "dir" and self.mode & stat.S_ISVTX)


@dataclass
class FsState:
    entries: dict[str, Entry]
    processes: dict[int, str] = field(default_factory=dict)  # pid -> command line, the lab's own excluded
    written_bytes: int = 0
    truncated: bool = False  # more paths than the observer reads
    trusted: bool = True  # read from outside the target, not through its own tools
    # Whether the target's image has a path it did not change (an overlay state lists only what
    # changed); None: ``entries`` is the whole tree (a board's listing), so it is asked there.
    in_image: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)
    # Folders the lab writes on this very target beyond ``LAB_OWN`` (its database server's:
    # ``database_own``), from the observer that read the state.
    own: tuple[str, ...] = field(default=(), compare=False)
    # The transfer spools the lab's transport had made on the target when the state was read.
    spools: frozenset[str] = field(default=frozenset(), compare=False)

    def present(self) -> set[str]:
        return {p for p, e in self.entries.items() if e.kind != "deleted"}

    def has(self, path: str) -> bool:
        """``path`` exists on the target in this state, changed or not."""
        entry = self.entries.get(path)
        if entry is not None:
            return entry.kind != "deleted"
        return bool(self.in_image and self.in_image(path))


def collapse(paths: list[str]) -> list[str]:
    """``/opt/x`` rather than every path below it."""
    out: list[str] = []
    for path in sorted(paths):
        if out and path.startswith(out[-1].rstrip("/") + "/"):
            continue
        out.append(path)
    return out


def created(before: FsState, after: FsState) -> list[str]:
    """Paths present after that were neither there before nor in the image (the lab's, this
    target's own folders of the lab's and the package manager's excluded)."""
    return sorted(p for p in after.present() - before.present()
                  if not after.entries[p].existed and not is_lab_own(p, after.own, after.spools)
                  and not is_package_manager_own(p))


def changed(before: FsState, after: FsState) -> dict[str, Entry]:
    """Every path whose entry differs (created, changed, deleted): the install's whole footprint,
    the lab's own paths (this target's too: ``after.own``) excluded."""
    return {p: e for p, e in after.entries.items()
            if before.entries.get(p) != e and not is_lab_own(p, after.own, after.spools)}


def rewritten(before: FsState, after: FsState) -> dict[str, Entry]:
    """Files and links the first state had that were written again by the second, their size,
    mode and owner unchanged (a review's trojaned /usr/bin/sudo and same-size /etc/sudoers): the
    inode's change time, read from outside the target, says so. Empty where it is not known."""
    return {p: e for p, e in after.entries.items()
            if e.kind in ("file", "link") and (b := before.entries.get(p)) is not None and b == e
            and e.rewritten_since(b)}


def written(before: FsState, after: FsState) -> dict[str, Entry]:
    """Every path created, changed or rewritten, nothing excluded: where a dangerous mode is judged.
    The lab never makes a setuid or world-writable file, so in its own folders such a mode is a
    vendor's."""
    return {**{p: e for p, e in after.entries.items() if e.kind != "deleted" and before.entries.get(p) != e},
            **rewritten(before, after)}


def new_processes(before: FsState, after: FsState) -> dict[int, str]:
    return {pid: cmd for pid, cmd in after.processes.items() if pid not in before.processes}


class Observer(abc.ABC):
    """Reads a target's state. ``trusted`` says whether it reads from outside the target."""

    trusted: bool = True
    own: tuple[str, ...] = ()  # the lab's folders on this target beyond LAB_OWN, put in each state

    @abc.abstractmethod
    def state(self) -> FsState: ...

    @abc.abstractmethod
    def read(self, path: str, limit: int = 1 << 20) -> bytes | None:
        """A file's content now, without following links; None if absent or not a regular file."""

    @abc.abstractmethod
    def adopt(self) -> Callable[[], None]:
        """Processes started from now on by the lab itself (a stack's database server) are the
        lab's: call the returned function once they run, and they join the baseline."""
