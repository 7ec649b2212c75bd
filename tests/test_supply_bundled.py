"""Components bundled in an artifact, read on the controller from their own metadata (best effort)."""

from __future__ import annotations

import io
import json
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
