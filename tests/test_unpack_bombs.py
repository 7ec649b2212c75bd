"""Unpacking a vendor's archive: no bomb (issue 16). Declared and written sizes, the compression
ratio, a lying zip, memory, the member count and over-long names, each capped by its
``[lab.limits]`` setting, which the refusal names; nothing is kept (see tests/archives.py)."""

from __future__ import annotations

import gzip
import shutil
import stat
import struct
import tarfile
import time
import zipfile

import pytest

from lab.inventory.model import Limits
from tests.archives import MB, SMALL, Zeros, entry, make_tar
from tests.test_submission import MANIFEST  # one manifest for all these files

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
