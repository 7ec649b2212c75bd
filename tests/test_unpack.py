"""Unpacking a vendor's archive: no escape, no bomb (issue 16). Every attack is built here, in the test.

Each refusal test checks three things: the ``InputError`` names the member or the limit, nothing
changed outside the unpack folder (a snapshot of ``tmp_path`` and a decoy file's mode and content),
and the unpack folder is gone.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from lab.deploy.contents import read_contents
from lab.errors import InputError, ProductFailure
from lab.inventory.model import Limits
from lab.submission import Artifact, load_submission
from lab.submission.unpack import unpack, unprivileged_ids

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
SMALL = Limits(archive_max_bytes=10 * MB)
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop happens only when the lab runs as root")

from tests.test_submission import MANIFEST  # noqa: E402 - one manifest for both files

# --- building archives -------------------------------------------------------------------------

class Zeros(io.RawIOBase):
    """``n`` zero bytes, read in pieces: a bomb's content without holding it in memory."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def entry(name: str, data: bytes = b"x", mode: int = 0o644, kind: bytes = tarfile.REGTYPE, link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, io.BytesIO(data)
    return info, None


def make_tar(path: Path, entries, mode: str = "w:gz") -> Path:
    fast = {"compresslevel": 1} if mode == "w:gz" else {}
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, **fast) as tar:
        for info, data in entries:
            tar.addfile(info, data)
    return path


def zip_link(zf: zipfile.ZipFile, name: str, target: bytes) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, mode, size and content digest, links not followed."""
    seen = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(top, name)
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
            seen[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, digest)
    return seen


@pytest.fixture
def scene(tmp_path):
    """``tmp_path`` with a decoy folder (a 0600 secret in it), an empty ``box``, and the paths to use.

    The archive goes in ``tmp_path``; it is unpacked into ``box/files``, so ``../../decoy`` from the
    unpack folder is the decoy.
    """
    (tmp_path / "decoy").mkdir()
    secret = tmp_path / "decoy" / "flag"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    (tmp_path / "box").mkdir()

    class Scene:
        root = tmp_path
        dest = tmp_path / "box" / "files"
        flag = secret

        def refused(self, archive: Path, limits: Limits | None = None) -> list[str]:
            """Unpack, expecting a refusal; check that nothing outside changed and the folder is gone."""
            before = snapshot(tmp_path)
            with pytest.raises(InputError) as info:
                unpack(archive, self.dest, limits)
            assert info.value.source == str(archive)
            assert not self.dest.exists(), "the unpack folder must be removed"
            assert snapshot(tmp_path) == before, "something changed outside the unpack folder"
            assert self.flag.read_text() == "secret\n" and stat.S_IMODE(self.flag.stat().st_mode) == 0o600
            return info.value.problems
    return Scene()


# --- escapes -----------------------------------------------------------------------------------

def test_cve_2025_4517_symlink_chain_is_refused_and_writes_nothing(scene):
    """The public PoC: links whose resolved path outgrows PATH_MAX, then a link and a hard link through them.

    Python 3.11's ``filter="data"`` lets this overwrite the decoy (0600 -> 0644, "pwned").
    """
    comp, steps, path, entries = "d" * 247, "abcdefghijklmnop", "", []
    for step in steps:
        entries.append(entry(os.path.join(path, comp), kind=tarfile.DIRTYPE, mode=0o755))
        entries.append(entry(os.path.join(path, step), kind=tarfile.SYMTYPE, link=comp))
        path = os.path.join(path, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    entries += [entry(linkpath, kind=tarfile.SYMTYPE, link="../" * len(steps)),
                entry("escape", kind=tarfile.SYMTYPE, link=linkpath + "/../../decoy"),
                entry("flaglink", kind=tarfile.LNKTYPE, link="escape/flag"),
                entry("flaglink", b"pwned\n", mode=0o644)]
    found = scene.refused(make_tar(scene.root / "poc.tar", entries, "w"))
    assert "a: symbolic link (links are not accepted)" in found
    assert "escape: symbolic link (links are not accepted)" in found
    assert "flaglink: hard link (links are not accepted)" in found
    assert any("path_max_bytes in targets.toml" in p for p in found)


def test_zip_symlink_then_a_file_through_it(scene):
    path = scene.root / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("submission.toml", MANIFEST)
        zip_link(zf, "x/link", b"../../../decoy")
        zf.writestr("x/link/pwned", "pwned")
    assert scene.refused(path) == ["x/link: symbolic link (links are not accepted)"]
    assert not (scene.root / "decoy" / "pwned").exists()


def test_tar_hard_link_to_an_outside_file(scene):
    archive = make_tar(scene.root / "hl.tar.gz", [
        entry("hl", kind=tarfile.LNKTYPE, link="../../decoy/flag"),
        entry("abs", kind=tarfile.LNKTYPE, link=str(scene.flag)),
        entry("hl", b"pwned\n", mode=0o644)])
    assert scene.refused(archive) == ["hl: hard link (links are not accepted)",
                                      "abs: hard link (links are not accepted)"]


def test_devices_fifos_and_unsafe_names(scene):
    archive = make_tar(scene.root / "odd.tar.gz", [
        entry("dev", kind=tarfile.CHRTYPE), entry("fifo", kind=tarfile.FIFOTYPE),
        entry("/etc/cron.d/x"), entry("a/../../up"), entry("bad\x1b[31mname"), entry("win\\path")])
    assert scene.refused(archive) == [
        "dev: device file (only files and folders are accepted)", "fifo: FIFO (only files and folders are accepted)",
        "/etc/cron.d/x: absolute path", "a/../../up: '..' component",
        "bad\\x1b[31mname: control character in the name", "win\\path: backslash in the name (use / between folders)"]


def test_a_file_where_a_folder_is_needed_and_duplicates(scene):
    clash = make_tar(scene.root / "clash.tar.gz", [entry("a"), entry("a/b")])
    assert scene.refused(clash) == ["a/b: a is not a folder in the archive"]
    twice = make_tar(scene.root / "twice.tar.gz", [entry("a"), entry("a")])
    assert scene.refused(twice) == ["a: appears twice in the archive"]


# --- bombs -------------------------------------------------------------------------------------

def test_zip_bomb_in_a_link_target_is_never_read(scene):
    path = scene.root / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        info = zipfile.ZipInfo("link")
        info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            shutil.copyfileobj(Zeros(64 * MB), out, MB)
    assert path.stat().st_size < MB
    started = time.monotonic()
    found = scene.refused(path, SMALL)
    assert time.monotonic() - started < 10
    assert found[0] == "link: symbolic link (links are not accepted)"
    assert "link: the archive declares more than 10485760 bytes by this member " \
           "([lab.limits] archive_max_bytes in targets.toml)" in found


def test_gzip_bomb_is_refused_at_its_header(scene):
    info = tarfile.TarInfo("data/zeros.bin")
    info.size = 200 * MB
    archive = make_tar(scene.root / "bomb.tar.gz", [entry("submission.toml", MANIFEST.encode()),
                                                    (info, Zeros(info.size))])
    assert archive.stat().st_size < 2 * MB
    started = time.monotonic()
    found = scene.refused(archive, SMALL)
    assert time.monotonic() - started < 10
    assert found == ["data/zeros.bin: the archive declares more than 10485760 bytes by this member "
                     "([lab.limits] archive_max_bytes in targets.toml)"]


def test_compression_ratio_is_capped_below_the_byte_cap(scene):
    info = tarfile.TarInfo("zeros.bin")
    info.size = 5 * MB
    archive = make_tar(scene.root / "ratio.tar.gz", [(info, Zeros(info.size))])
    found = scene.refused(archive, SMALL)
    assert len(found) == 1 and found[0].startswith("zeros.bin: the archive declares more than 200 times its own size")
    assert found[0].endswith("([lab.limits] archive_max_ratio in targets.toml)")


def test_zip_whose_declared_size_lies(scene):
    """The directory says 100 bytes, the data is 5 MB: the lie is caught, nothing is kept."""
    path = scene.root / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(5 * MB))
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 100)
    struct.pack_into("<I", data, central + 24, 100)
    path.write_bytes(bytes(data))
    found = scene.refused(path)
    assert len(found) == 1 and found[0].startswith("not a readable archive: BadZipFile")


def test_written_bytes_are_counted_whatever_was_declared():
    """The streaming count, which the declared sizes cannot fool, refuses at the cap."""
    from lab.submission._unpack_child import Budget, Refused

    budget = Budget({"max_bytes": 1000, "max_members": 10, "max_ratio": 200, "archive_size": 10})
    budget.add("f", 1000)
    with pytest.raises(Refused, match=r"f: the archive unpacks to more than 1000 bytes .*archive_max_bytes"):
        budget.add("f", 1)


def test_memory_is_bounded(scene, monkeypatch):
    """A 200 MB pax header (tarfile reads it whole) in a 1 MB archive: the child's address space stops it."""
    import lab.submission.unpack as unpack_module

    monkeypatch.setattr(unpack_module, "CHILD_MEMORY", 128 * MB)
    size, archive = 200 * MB, scene.root / "pax.tar.gz"
    head = tarfile.TarInfo("././@PaxHeader")
    head.type, head.size = tarfile.XHDTYPE, size
    record = f"{size} comment=".encode()
    with gzip.open(archive, "wb", compresslevel=1) as out:
        out.write(head.tobuf(tarfile.USTAR_FORMAT) + record)
        left, chunk = size - len(record) - 1, b"a" * MB
        while left:
            left -= out.write(chunk[:left])
        out.write(b"\n" + bytes(-size % 512) + tarfile.TarInfo("f").tobuf(tarfile.USTAR_FORMAT) + bytes(1024))
    assert scene.refused(archive) == ["archive: needs more than 128 MiB of memory to read"]


def test_member_count_is_capped_before_writing(scene):
    archive = scene.root / "many.tar.gz"
    headers = b"".join(tarfile.TarInfo(f"f{i}").tobuf(tarfile.GNU_FORMAT) for i in range(20_001))
    archive.write_bytes(gzip.compress(headers + bytes(1024), 1))
    limits = Limits(archive_max_members=1000)
    assert scene.refused(archive, limits) == [
        "archive: more than 1000 members (at f1000) ([lab.limits] archive_max_members in targets.toml)"]
    path = scene.root / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(20_001):
            zf.writestr(f"f{i}", b"")
    assert scene.refused(path, limits) == [
        "archive: 20001 members, more than 1000 ([lab.limits] archive_max_members in targets.toml)"]


def test_over_long_names(scene):
    long_name, long_path = "n" * 300, "/".join(["p" * 200] * 6)
    archive = make_tar(scene.root / "names.tar.gz", [entry(long_name), entry(long_path)])
    found = scene.refused(archive)
    assert found == [
        f"{'n' * 60}...{'n' * 40} (300 bytes): name of 300 bytes is longer than the limit of 255 bytes "
        "([lab.limits] name_max_bytes in targets.toml)",
        f"{long_path[:60]}...{long_path[-40:]} (1205 bytes): path of 1205 bytes is longer than the limit of 1024 bytes "
        "([lab.limits] path_max_bytes in targets.toml)"]
    path = scene.root / "names.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/" + "z" * 256, b"")
    assert scene.refused(path)[0].endswith("name of 256 bytes is longer than the limit of 255 bytes "
                                           "([lab.limits] name_max_bytes in targets.toml)")


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


# --- contents of packages, read on the controller ----------------------------------------------

def _ar(path: Path, parts: list[tuple[str, bytes]]) -> Path:
    out = bytearray(b"!<arch>\n")
    for name, data in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.write_bytes(bytes(out))
    return path


def _tar_bytes(entries, mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for info, data in entries:
            tar.addfile(info, data)
    return buf.getvalue()


def _deb(path: Path, data_entries, data_mode: str = "w:xz", zstd: bool = False) -> Path:
    control = _tar_bytes([entry("./control", b"Package: acme\nVersion: 1\nArchitecture: all\n")], "w:gz")
    if zstd:
        data = subprocess.run(["zstd", "-q", "-c"], input=_tar_bytes(data_entries, "w"), capture_output=True,
                              check=True).stdout
        name = "data.tar.zst"
    else:
        data = _tar_bytes(data_entries, data_mode)
        name = "data.tar.xz" if data_mode == "w:xz" else "data.tar.gz"
    return _ar(path, [("debian-binary", b"2.0\n"), ("control.tar.gz", control), (name, data)])


@pytest.mark.parametrize("zstd", [False, pytest.param(True, marks=pytest.mark.skipif(
    not shutil.which("zstd"), reason="zstd not installed"))])
def test_contents_of_a_deb(tmp_path, zstd):
    deb = _deb(tmp_path / "acme.deb", [entry("./usr/", kind=tarfile.DIRTYPE, mode=0o755),
                                       entry("./usr/bin/acme", b"#!/bin/sh\n", 0o755)], zstd=zstd)
    got = read_contents(Artifact(path="acme.deb"), deb)
    assert got.control == {"Package": "acme", "Version": "1", "Architecture": "all"}
    assert [(m.path, m.size) for m in got.members] == [("/usr", 0), ("/usr/bin/acme", 10)]


def test_contents_are_bounded(tmp_path):
    art = Artifact(path="acme.deb")
    many = _deb(tmp_path / "many.deb", [entry(f"./f{i}", b"") for i in range(50)])
    with pytest.raises(ProductFailure, match=r"acme.deb: more than 10 members: .*archive_max_members"):
        read_contents(art, many, Limits(archive_max_members=10))
    info = tarfile.TarInfo("./zeros")
    info.size = 64 * MB
    bomb = _deb(tmp_path / "bomb.deb", [(info, Zeros(info.size))], "w:gz")
    with pytest.raises(ProductFailure, match=r"acme.deb: its files add up to more than 10485760 bytes.*"
                                             r"archive_max_bytes"):
        read_contents(art, bomb, SMALL)
    with pytest.raises(ProductFailure, match=r"acme.deb: its files add up to more than 200 times its own size.*"
                                             r"archive_max_ratio"):
        read_contents(art, bomb)
    tarball = make_tar(tmp_path / "t.tar.gz", [(info, Zeros(info.size))])
    with pytest.raises(ProductFailure, match=r"t.tar.gz: its files add up to more than 10485760 bytes"):
        read_contents(Artifact(path="t.tar.gz", prefix="/opt/t"), tarball, SMALL)
    with pytest.raises(ProductFailure, match=r"acme.deb is not a readable .deb: not an ar archive"):
        read_contents(art, tarball)
