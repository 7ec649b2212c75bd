"""Unpacking a vendor's archive: what is kept. A good archive unpacked with safe modes and taken back
by the lab's user; as root, a child that runs unprivileged and meets the kernel's permissions; and
through load_submission and the CLI (exit 2), a refusal that leaves no temporary folder behind.
Escapes are in tests/test_unpack_escapes.py, bombs in tests/test_unpack_bombs.py."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from lab.errors import InputError
from lab.submission import load_submission
from lab.submission.unpack import unpack, unprivileged_ids
from tests.archives import MB, SMALL, Zeros, entry, make_tar
from tests.test_submission import MANIFEST  # one manifest for all these files

ROOT = Path(__file__).resolve().parent.parent
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop happens only when the lab runs as root")


# --- what is kept --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_good_archive_is_unpacked_and_taken_back(tmp_path, kind):
    files = {"acme/submission.toml": (MANIFEST.encode(), 0o600), "acme/bin/tool": (b"#!/bin/sh\n", 0o4775),
             "acme/deep/er/data.bin": (os.urandom(3000), 0o666)}
    archive = tmp_path / f"good.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, (data, mode) in files.items():
                info = zipfile.ZipInfo(name)
                info.create_system, info.external_attr = 3, (stat.S_IFREG | mode) << 16
                zf.writestr(info, data)
    else:
        make_tar(archive, [entry("./", kind=tarfile.DIRTYPE, mode=0o777)]
                 + [entry(name, data, mode) for name, (data, mode) in files.items()])
    dest = tmp_path / "box"
    done = unpack(archive, dest)
    assert (done.files, done.bytes) == (3, sum(len(d) for d, _ in files.values()))
    for name, (data, mode) in files.items():
        p = dest / name
        assert p.read_bytes() == data
        st = p.lstat()
        assert stat.S_IMODE(st.st_mode) == (0o755 if mode & 0o111 else 0o644)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    for folder in (dest, dest / "acme", dest / "acme" / "deep" / "er"):
        st = folder.lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == os.getuid()


@AS_ROOT
def test_the_child_runs_unprivileged_and_the_files_come_back_to_root(tmp_path):
    archive = make_tar(tmp_path / "s.tar.gz", [entry("submission.toml", MANIFEST.encode(), 0o600)])
    done = unpack(archive, tmp_path / "box")
    assert done.child_uid == unprivileged_ids()[0] != 0
    st = (tmp_path / "box" / "submission.toml").lstat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)


@AS_ROOT
def test_the_confined_child_cannot_do_what_root_could(tmp_path):
    """Even a child that somehow reached outside its folder meets the kernel's permissions."""
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    victim = outside / "victim"
    victim.write_text("root's\n")
    victim.chmod(0o644)
    uid, gid = unprivileged_ids()
    script = (
        "import os, sys\n"
        "from lab.submission._unpack_child import confine\n"
        f"confine({{'max_bytes': 1 << 20, 'memory': 512 << 20, 'cpu': 10, 'uid': {uid}, 'gid': {gid}}})\n"
        "fd = int(sys.argv[1])\n"
        "denied = []\n"
        "for attempt in (lambda: os.open('victim', os.O_WRONLY, dir_fd=fd),\n"
        "                lambda: os.open('new', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd),\n"
        "                lambda: os.chmod('victim', 0o666, dir_fd=fd),\n"
        "                lambda: os.setuid(0)):\n"
        "    try:\n"
        "        attempt()\n"
        "    except PermissionError:\n"
        "        denied.append(1)\n"
        "print(os.getuid(), len(denied))\n")
    fd = os.open(outside, os.O_RDONLY | os.O_DIRECTORY)
    try:
        r = subprocess.run([sys.executable, "-c", script, str(fd)], pass_fds=(fd,), capture_output=True, text=True,
                           cwd=ROOT, check=False)
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(uid), "4"]
    assert victim.read_text() == "root's\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert sorted(os.listdir(outside)) == ["victim"]


# --- through load_submission and the CLI ---------------------------------------------------------

def _leftovers() -> set[str]:
    return {d for d in os.listdir(tempfile.gettempdir()) if d.startswith("lab-submission-")}


def test_load_submission_cleans_up_after_a_refusal(tmp_path):
    archive = make_tar(tmp_path / "s.tar.gz", [entry("submission.toml", MANIFEST.encode()),
                                              entry("l", kind=tarfile.SYMTYPE, link="/etc/passwd")])
    before = _leftovers()
    with pytest.raises(InputError) as info:
        load_submission(archive, SMALL)
    assert info.value.problems == ["l: symbolic link (links are not accepted)"]
    assert _leftovers() == before


def test_cli_refuses_a_bomb_with_exit_2_using_the_inventorys_limits(tmp_path):
    info = tarfile.TarInfo("zeros.bin")
    info.size = 50 * MB
    archive = make_tar(tmp_path / "bomb.tar.gz", [entry("submission.toml", MANIFEST.encode()),
                                                 entry("x[/bogus]", kind=tarfile.SYMTYPE, link="/"),
                                                 (info, Zeros(info.size))])
    inventory = tmp_path / "lab.toml"
    inventory.write_text("targets = []\n[lab.limits]\narchive_max_bytes = 1048576\n")
    before = _leftovers()
    r = subprocess.run([sys.executable, "-m", "lab", "validate", str(archive), "--inventory", str(inventory)],
                       capture_output=True, text=True, cwd=tmp_path, check=False)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    said = " ".join(r.stderr.split())
    assert "zeros.bin: the archive declares more than 1048576 bytes by this member " \
           "([lab.limits] archive_max_bytes in targets.toml)" in said
    assert "x[/bogus]: symbolic link (links are not accepted)" in said  # vendor text printed as written
    assert _leftovers() == before
