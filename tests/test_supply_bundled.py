"""Components bundled in an artifact, read on the controller from their own metadata (best effort)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile

from examples.make import build_tarball
from lab.submission.model import Artifact
from lab.supply.bundled import go_buildinfo, scan


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_python_npm_maven_metadata_and_licence_files_in_a_tarball(tmp_path):
    art = build_tarball({
        "site/requests-2.31.0.dist-info/METADATA": b"Name: requests\nVersion: 2.31.0\nLicense-Expression: Apache-2.0\n",
        "site/requests-2.31.0.dist-info/LICENSE": b"Apache License\n",
        "site/old-1.0.dist-info/METADATA":
            b"Name: old\nVersion: 1.0\nClassifier: License :: OSI Approved :: MIT License\n",
        "web/node_modules/left-pad/package.json": json.dumps({"name": "left-pad", "version": "1.3.0",
                                                               "license": "WTFPL"}).encode(),
        "web/package.json": json.dumps({"name": "the-product-itself", "version": "9"}).encode(),
        "lib/core.jar": zipped({"META-INF/maven/com.acme/core/pom.properties":
                                b"groupId=com.acme\nartifactId=core\nversion=3.1\n"}),
        "lib/broken.jar": b"not a zip",
        "LICENSE": b"the product's licence\n",
        "site/weird-1.0.dist-info/METADATA": b"Name: weird\n",   # no version: not identified
    }, tmp_path / "a.tar.gz")
    found = scan(Artifact(path="a.tar.gz", prefix="/opt/acme"), art)
    got = {(c.ecosystem, c.name, c.version, c.licence, c.declared_in) for c in found.components}
    assert got == {
        ("PyPI", "requests", "2.31.0", "Apache-2.0", "/opt/acme/site/requests-2.31.0.dist-info/METADATA"),
        ("PyPI", "old", "1.0", "MIT", "/opt/acme/site/old-1.0.dist-info/METADATA"),
        ("npm", "left-pad", "1.3.0", "WTFPL", "/opt/acme/web/node_modules/left-pad/package.json"),
        ("Maven", "com.acme:core", "3.1", "", "/opt/acme/lib/core.jar!/META-INF/maven/com.acme/core/pom.properties"),
    }
    assert set(found.licence_files) == {"/opt/acme/site/requests-2.31.0.dist-info/LICENSE", "/opt/acme/LICENSE"}
    assert found.notes == ["/opt/acme/lib/broken.jar: not a readable archive"]


def uvarint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def test_go_build_info_of_an_elf_program(tmp_path):
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(tmp_path / "prog"), str(tmp_path / "m.c")], check=True)
    modinfo = (b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6"
               b"path\texample.com/acme\nmod\texample.com/acme\t(devel)\t\n"
               b"dep\tgolang.org/x/net\tv0.17.0\th1:abc=\n"
               b"\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2")
    version = b"go1.21.5"
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16 + uvarint(len(version)) + version + \
        uvarint(len(modinfo)) + modinfo
    (tmp_path / "blob").write_bytes(blob)
    subprocess.run(["objcopy", "--add-section", f".go.buildinfo={tmp_path / 'blob'}", str(tmp_path / "prog"),
                    str(tmp_path / "goprog")], check=True)
    found = go_buildinfo((tmp_path / "goprog").read_bytes(), "/opt/acme/bin/acme")
    assert [(c.ecosystem, c.name, c.version) for c in found] == [("Go", "golang.org/x/net", "v0.17.0")]
    assert go_buildinfo((tmp_path / "prog").read_bytes(), "x") == []


def hostile_elf() -> bytes:
    """An ELF whose one section (its names' table) starts at 2**64-256: pyelftools seeks there and
    Python refuses the offset with OverflowError."""
    import struct

    h = bytearray(128)
    h[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHI", h, 16, 3, 62, 1)
    struct.pack_into("<Q", h, 0x28, 64)
    struct.pack_into("<HHHHHH", h, 0x34, 64, 56, 0, 64, 1, 0)
    struct.pack_into("<IIQQQQIIQQ", h, 64, 0, 3, 0, 0, 0xFFFFFFFFFFFFFF00, 16, 0, 0, 1, 0)
    return bytes(h)


def test_hostile_metadata_is_skipped_not_a_crash(tmp_path, monkeypatch):
    """Review: a package.json nested past Python's recursion limit or naming a licence type that is
    not a string, an ELF with an absurd section offset, and a corrupt or oversized nested jar are
    skipped (a note at most): what a vendor bundles never makes the supply checks broken."""
    import lab.supply.bundled as bundled

    corrupt = bytearray(zipped({"x.dist-info/METADATA": b"Name: x\nVersion: 1\n" * 50}))
    with zipfile.ZipFile(io.BytesIO(bytes(corrupt))) as z:
        info = z.infolist()[0]
    start = info.header_offset + 30 + len(info.filename)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.dist-info/METADATA", b"Name: x\nVersion: 1\n" * 50)
    deflated = bytearray(buf.getvalue())
    deflated[start:start + 8] = b"\xff" * 8
    many = zipped({f"p{i}.dist-info/METADATA": f"Name: p{i}\nVersion: 1\n".encode() for i in range(40)})
    # the corrupt member's 950 bytes, then p0..p9 (20 bytes each), not p10
    monkeypatch.setattr(bundled, "NESTED_READ_MAX", 950 + 10 * len(b"Name: p10\nVersion: 1\n"))
    art = build_tarball({
        "web/node_modules/deep/package.json": b"[" * 200_000 + b"]" * 200_000,
        "web/node_modules/odd/package.json": json.dumps({"name": "odd", "version": "1.0.0",
                                                         "licenses": [{"type": 5}, {"type": "MIT"}]}).encode(),
        "lib/corrupt.whl": bytes(deflated),
        "lib/many.jar": many,
    }, tmp_path / "a.tar.gz")
    found = scan(Artifact(path="a.tar.gz", prefix="/opt/acme"), art)
    got = {(c.name, c.licence) for c in found.components}
    assert ("odd", "MIT") in got and not any(n == "deep" for n, _ in got)
    assert "/opt/acme/lib/corrupt.whl: not a readable archive" in found.notes
    assert sum(c.name.startswith("p") for c in found.components) == 10
    assert any("many.jar: the lab reads no more metadata" in n for n in found.notes)
    assert go_buildinfo(hostile_elf(), "/opt/acme/bin/x") == []


def test_licence_files_are_read_up_to_a_total_that_licensecheck_gets_through(tmp_path, monkeypatch):
    """Review: 500 licence files of 256 KiB each (125 MiB) took licensecheck past its timeout, which
    made supply.licences *broken* by the vendor's choice; the total read is capped, and what is past
    the cap is said (a later review: it was dropped in silence, and a forbidden licence with it)."""
    import lab.supply.bundled as bundled

    monkeypatch.setattr(bundled, "LICENCE_BYTES_MAX", 2000)
    art = build_tarball({f"c{i}/LICENSE": bytes([65 + i]) * 900 for i in range(4)}, tmp_path / "a.tar.gz")
    found = scan(Artifact(path="a.tar.gz", prefix="/opt/acme"), art)
    assert len(found.licence_files) == 2
    assert found.unread_licences == ["/opt/acme/c2/LICENSE (beyond 0 MiB of licence texts)",
                                     "/opt/acme/c3/LICENSE (beyond 0 MiB of licence texts)"]


def test_the_same_licence_text_counts_once_and_one_too_big_or_past_the_count_is_said(tmp_path, monkeypatch):
    """A hostile vendor padded its AGPL licence past the old 256 KiB cap, or hid it as the 501st file:
    it was skipped without a word and supply.licences passed. A thousand node_modules with the same
    MIT text cost one read; a file past the caps is listed as not read whole."""
    import lab.supply.bundled as bundled

    monkeypatch.setattr(bundled, "LICENCE_FILES_MAX", 2)
    monkeypatch.setattr(bundled, "LICENCE_FILE_MAX", 1 << 20)
    files = {f"node_modules/m{i}/LICENSE": b"MIT License\n" for i in range(50)}
    files["padded/LICENSE"] = b"GNU AFFERO GENERAL PUBLIC LICENSE\n" + b" " * (300 << 10)
    files["zz/COPYING"] = b"another text"
    files["zz/huge/LICENSE"] = os.urandom((1 << 20) + 1)  # random: within the archive's ratio cap
    found = scan(Artifact(path="a.tar.gz", prefix="/opt/acme"), build_tarball(files, tmp_path / "a.tar.gz"))
    assert len(found.licence_files) == 51 and len(found.licence_texts) == 2
    # held once: a review's 100 copies of one 4 MiB text took 400 MiB of the worker's memory
    assert len({id(text) for path, text in found.licence_files.items() if "node_modules" in path}) == 1
    assert "/opt/acme/padded/LICENSE" in found.licence_files  # 300 KiB: read, no longer skipped
    assert sorted(found.unread_licences) == ["/opt/acme/zz/COPYING (beyond 2 different licence texts)",
                                             "/opt/acme/zz/huge/LICENSE (larger than 1 MiB)"]


MIT = """MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""


def test_licensecheck_reads_each_different_text_once_and_answers_for_every_path():
    from lab.supply.licences import licensecheck

    data = MIT.encode()
    found = licensecheck({f"/opt/a{i}/LICENSE": data for i in range(300)})
    assert len(found) == 300 and len(set(found.values())) == 1
