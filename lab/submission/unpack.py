"""Unpacking a vendor's archive so that it can neither escape its folder nor exhaust the lab.

Every name in the archive is attacker input, and lexical checks alone were beaten (chains of
links longer than the path length a filter checks, a link made first and then written through, a
hard link that changed an outside file's mode). So nothing here trusts a check on a path string:

- the archive is read by a child process (``_unpack_child.py``) that drops to an unprivileged
  uid/gid when the lab runs as root, under resource limits, and writes only through descriptors
  relative to the destination folder, never following a link;
- only plain files and folders are accepted: a link, device or FIFO refuses the whole archive;
- the members, the declared sizes, the bytes really written and their ratio to the archive's size
  are capped by the lab's ``[lab.limits]`` (``archive_max_bytes``, ``archive_max_members``,
  ``archive_max_ratio``, ``name_max_bytes``, ``path_max_bytes``);
- afterwards this (possibly root) process walks the result without following links, checks that
  only plain files and folders exist, and takes them back (owner, modes 0644/0755) so the
  unprivileged user cannot change them between this check and their use.

A refusal removes the destination folder and raises ``InputError`` naming every problem.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lab.errors import InfrastructureError, InputError
from lab.inventory.model import Limits
from lab.submission._unpack_child import RATIO_FLOOR, StreamTooLong, open_tar_stream

__all__ = ["RATIO_FLOOR", "StreamTooLong", "Unpacked", "is_archive", "open_tar_stream", "unpack"]

CHILD = Path(__file__).with_name("_unpack_child.py")
CHILD_MEMORY = 512 << 20   # address space of the child: enough for 100,000 zip entries, not for a bomb
CHILD_CPU_SECONDS = 120    # a legitimate 2 GiB archive is read twice in well under a minute
WALL_SECONDS = 300         # the child is killed after this, whatever it is doing
WHERE = "([lab.limits] {} in targets.toml)"


@dataclass(frozen=True)
class Unpacked:
    """What an unpack produced, and the uid the child really ran as (checked: never root)."""

    files: int
    folders: int
    bytes: int
    child_uid: int


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith((".tar.gz", ".tgz", ".zip"))


def unprivileged_ids() -> tuple[int, int]:
    """The uid and gid the child becomes when the lab runs as root: ``nobody``/``nogroup``."""
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        uid = 65534
    for group in ("nogroup", "nobody"):
        try:
            return uid, grp.getgrnam(group).gr_gid
        except KeyError:
            continue
    return uid, 65534


def unpack(archive: Path, dest: Path, limits: Limits | None = None) -> Unpacked:
    """Unpack ``archive`` into the new folder ``dest`` (its parent should be private to this process).

    Raises ``InputError`` (with ``dest`` removed) if the archive breaks a rule or a cap.
    """
    limits = limits or Limits()
    source = str(archive)
    try:
        fd = os.open(archive, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(source, [f"cannot be read: {exc.strerror}"]) from None
    try:
        size = _archive_size(fd, source, limits)
        os.mkdir(dest, 0o700)
        try:
            done = _unpack_into(fd, size, source, dest, limits)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    finally:
        os.close(fd)
    return done


def _archive_size(fd: int, source: str, limits: Limits) -> int:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(source, ["not a regular file"])
    if st.st_size > limits.archive_max_bytes:
        raise InputError(source, [f"archive: {st.st_size} bytes, more than the limit of {limits.archive_max_bytes} "
                                  "bytes " + WHERE.format("archive_max_bytes")])
    if st.st_size == 0:
        raise InputError(source, ["not a readable archive: empty file"])
    return st.st_size


def _unpack_into(fd: int, size: int, source: str, dest: Path, limits: Limits) -> Unpacked:
    root = os.geteuid() == 0
    uid, gid = unprivileged_ids() if root else (os.getuid(), os.getgid())
    dfd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if root:
            os.fchown(dfd, uid, gid)
        job = {"kind": "zip" if source.lower().endswith(".zip") else "tar", "archive_fd": fd, "dest_fd": dfd,
               "archive_size": size, "uid": uid, "gid": gid, "memory": CHILD_MEMORY, "cpu": CHILD_CPU_SECONDS,
               "max_bytes": limits.archive_max_bytes, "max_members": limits.archive_max_members,
               "max_ratio": limits.archive_max_ratio, "name_max": limits.name_max_bytes,
               "path_max": limits.path_max_bytes}
        result = _run_child(job, source)
        problems = result.get("problems") or _take_back(dfd, limits)
        if problems:
            raise InputError(source, problems)
        if root and result["uid"] == 0:
            raise InfrastructureError("the unpacking child kept root's uid; refusing its result")
        return Unpacked(result["files"], result["folders"], result["bytes"], result["uid"])
    finally:
        os.close(dfd)


def _run_child(job: dict, source: str) -> dict:
    """Run the child on ``job``; its JSON answer, or why it stopped as an ``InputError``."""
    cmd = [sys.executable, "-I", "-S", "-B", "-X", "utf8", str(CHILD), json.dumps(job)]
    try:
        proc = subprocess.run(cmd, pass_fds=(job["archive_fd"], job["dest_fd"]), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=WALL_SECONDS, env={}, cwd="/", check=False)
    except subprocess.TimeoutExpired:
        raise InputError(source, [f"archive: unpacking took longer than {WALL_SECONDS} s and was stopped"]) from None
    if proc.returncode == 0:
        try:
            return json.loads(proc.stdout)
        except ValueError:
            pass
    if proc.returncode == -signal.SIGXCPU:
        raise InputError(source, [f"archive: unpacking used more than {CHILD_CPU_SECONDS} s of CPU and was stopped"])
    if proc.returncode == -signal.SIGKILL:
        raise InputError(source, [f"archive: unpacking was killed (past {CHILD_CPU_SECONDS} s of CPU, or out of "
                                  "memory)"])
    if b"MemoryError" in proc.stderr:
        raise InputError(source, [f"archive: needs more than {CHILD_MEMORY >> 20} MiB of memory to read"])
    tail = proc.stderr.decode(errors="replace")[-2000:]
    raise InfrastructureError(f"the unpacking child failed (exit {proc.returncode}) on {source}:\n{tail}")


def _take_back(dfd: int, limits: Limits) -> list[str]:
    """Walk what the child wrote without following links; own it again with sane modes.

    Returns the problems: anything but a plain file (with one link) or a folder, or more bytes than
    the cap. The child should have made none of these; this is the check that does not trust it.
    """
    problems: list[str] = []
    total = 0
    uid, gid = os.getuid(), os.getgid()
    os.fchown(dfd, uid, gid)
    os.fchmod(dfd, 0o755)
    walk = os.fwalk(".", dir_fd=dfd, follow_symlinks=False, onerror=lambda e: problems.append(f"{e}"))
    for top, dirs, files, tfd in walk:
        for name in dirs:
            with _opened(name, tfd, os.O_DIRECTORY) as sub:
                if sub is None:
                    problems.append(f"{_rel(top, name)}: not a plain folder")
                    continue
                os.fchown(sub, uid, gid)
                os.fchmod(sub, 0o755)
        for name in files:
            st = os.stat(name, dir_fd=tfd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                problems.append(f"{_rel(top, name)}: not a regular file")
                continue
            with _opened(name, tfd, 0) as f:
                st2 = os.fstat(f) if f is not None else None
                if st2 is None or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino) or st2.st_nlink != 1:
                    problems.append(f"{_rel(top, name)}: not a plain file")
                    continue
                os.fchown(f, uid, gid)
                os.fchmod(f, 0o755 if st2.st_mode & 0o111 else 0o644)
                total += st2.st_size
    if total > limits.archive_max_bytes:
        problems.append(f"archive: unpacked to {total} bytes, more than {limits.archive_max_bytes} "
                        + WHERE.format("archive_max_bytes"))
    return problems


@contextlib.contextmanager
def _opened(name: str, parent: int, flags: int):
    """``os.open(name, O_NOFOLLOW | flags, dir_fd=parent)``: the descriptor, or None if refused."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY | flags,
                     dir_fd=parent)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _rel(top: str, name: str) -> str:
    return os.path.normpath(os.path.join(top, name))
