"""The contents of a vendor's packages (.deb with xz, gzip or zstd data; a tarball), read on the
controller, and bounded like an unpacked archive: members, bytes, ratio."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from lab.deploy.contents import read_contents
from lab.errors import ProductFailure
from lab.inventory.model import Limits
from lab.submission import Artifact
from tests.archives import MB, SMALL, Zeros, entry, make_tar

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
