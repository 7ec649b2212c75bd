"""Unpacking a vendor's archive: no escape (issue 16). Symbolic and hard links (the CVE-2025-4517
chain among them), devices, FIFOs, unsafe names, a file where a folder is needed, duplicates; each
refused with the member named, nothing changed outside the unpack folder (see tests/archives.py)."""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile

from tests.archives import entry, make_tar
from tests.test_submission import MANIFEST  # one manifest for all these files


def zip_link(zf: zipfile.ZipFile, name: str, target: bytes) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


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
