"""What a vendor bundled inside its artifacts, read on the controller: best effort, named as such.

Package metadata that names a component is read from the artifact itself, never by running it:
Python's ``*.dist-info/METADATA`` (also inside ``.whl`` files), npm's ``node_modules/**/package.json``,
Java's ``META-INF/maven/**/pom.properties`` inside ``.jar``/``.war`` files, and the module list Go
writes into its programs (the ``.go.buildinfo`` section, Go 1.18 and later). Licence files
(``LICENSE*``, ``COPYING*``...) are collected for ``licensecheck``.

Everything here is vendor input: every member, byte and nested archive is bounded (``[lab.limits]``
for the artifact as a whole, the constants below for each file), and a malformed piece of metadata
is skipped, since an unidentified component is an advisory, not a crash.

Example::

    found = scan(artifact, local_path, limits)
    found.components   # [Bundled(ecosystem="PyPI", name="requests", version="2.31.0", ...)]
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from lab.deploy.contents import UNREADABLE, _ar_parts, _Budget, _tar_part
from lab.errors import ProductFailure
from lab.inventory.model import Limits
from lab.submission.model import Artifact
from lab.submission.unpack import StreamTooLong, open_tar_stream

METADATA_MAX = 1 << 20       # a METADATA / package.json / pom.properties
LICENCE_FILE_MAX = 4 << 20    # one licence file (a product's third-party notices run to a few MiB)
LICENCE_FILES_MAX = 500       # different texts: the same MIT text in a thousand node_modules counts once
LICENCE_BYTES_MAX = 16 << 20  # all of them: licensecheck reads ~0.5 MiB/s on a loaded host, within its timeout
NESTED_MAX = 64 << 20        # a .jar/.whl read into memory
NESTED_MEMBERS_MAX = 20000
NESTED_READ_MAX = 256 << 20  # metadata decompressed out of all the .jar/.whl of one artifact together
ELF_MAX = 256 << 20
COMPONENTS_MAX = 5000
LICENCE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|COPYRIGHT|NOTICE|UNLICENSE)([._-].*)?$", re.I)
GO_MAGIC = b"\xff Go buildinf:"


@dataclass
class Bundled:
    ecosystem: str            # PyPI | npm | Maven | Go
    name: str
    version: str
    declared_in: str          # the path on the target of the file that names it
    licence: str = ""         # as its metadata declares it (normalised later)
    licence_files: list[str] = field(default_factory=list)


@dataclass
class Found:
    components: list[Bundled] = field(default_factory=list)
    licence_files: dict[str, bytes] = field(default_factory=dict)   # target path -> text
    copyright: dict[str, bytes] = field(default_factory=dict)       # deb: package -> its copyright file
    notes: list[str] = field(default_factory=list)                   # what could not be read
    nested_read: int = 0                                             # bytes decompressed out of nested zips
    licence_bytes: int = 0                                           # of licence_files, against LICENCE_BYTES_MAX
    licence_texts: dict[bytes, bytes] = field(default_factory=dict)  # digest -> the text, each held once
    # Licence and copyright files the lab did not read whole (path (why)): it cannot vouch for what
    # they say, so with a licence policy they fail supply.licences (a forbidden licence hid in one).
    unread_licences: list[str] = field(default_factory=list)


CLASSIFIERS = {"MIT License": "MIT", "Apache Software License": "Apache-2.0", "BSD License": "BSD-3-Clause",
               "ISC License (ISCL)": "ISC", "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
               "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
               "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
               "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
               "GNU Affero General Public License v3": "AGPL-3.0-only",
               "Python Software Foundation License": "PSF-2.0", "The Unlicense (Unlicense)": "Unlicense"}


def python_metadata(text: bytes, path: str) -> Bundled | None:
    msg = HeaderParser().parsestr(text.decode("utf-8", "replace"))
    name, version = (msg.get("Name") or "").strip(), (msg.get("Version") or "").strip()
    if not name or not version:
        return None
    licence = (msg.get("License-Expression") or "").strip()
    if not licence:
        classified = [CLASSIFIERS.get(c.split("::")[-1].strip()) for c in msg.get_all("Classifier") or []
                      if c.startswith("License ::")]
        classified = [c for c in classified if c]
        short = (msg.get("License") or "").strip()
        licence = " AND ".join(dict.fromkeys(classified)) or (short if len(short) < 100 and "\n" not in short else "")
    return Bundled("PyPI", name[:200], version[:100], path, licence)


def npm_metadata(text: bytes, path: str) -> Bundled | None:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: [[[[...]]]] nested past Python's limit
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not isinstance(doc.get("version"), str):
        return None
    lic = doc.get("license", "")
    if isinstance(lic, dict):
        lic = lic.get("type", "")
    if not lic and isinstance(doc.get("licenses"), list):
        lic = " OR ".join(x["type"] for x in doc["licenses"] if isinstance(x, dict) and isinstance(x.get("type"), str)
                          and x["type"])
    return Bundled("npm", doc["name"][:200], doc["version"][:100], path, lic if isinstance(lic, str) else "")


def maven_properties(text: bytes, path: str) -> Bundled | None:
    props = {}
    for line in text.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            props[key.strip()] = value.strip()
    if not all(props.get(k) for k in ("groupId", "artifactId", "version")):
        return None
    return Bundled("Maven", f"{props['groupId']}:{props['artifactId']}"[:200], props["version"][:100], path)


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("bad varint")


def go_buildinfo(data: bytes, path: str) -> list[Bundled]:
    """The modules a Go program was built from: its ``.go.buildinfo`` section (Go 1.18+, where the
    strings are inline). Older Go programs (pointers into the data) are not read."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        section = ELFFile(io.BytesIO(data)).get_section_by_name(".go.buildinfo")
        blob = section.data()[:METADATA_MAX] if section is not None else b""
    except (ELFError, ValueError, OSError, AttributeError, OverflowError, KeyError, IndexError, struct.error):
        return []  # a broken ELF names no module (OverflowError: a size field past what Python seeks)
    if not blob.startswith(GO_MAGIC) or len(blob) < 32 or not blob[15] & 2:
        return []
    try:
        n, pos = _uvarint(blob, 32)
        pos += n
        n, pos = _uvarint(blob, pos)
        modinfo = blob[pos:pos + n]
    except ValueError:
        return []
    if len(modinfo) >= 33:
        modinfo = modinfo[16:-16]  # sentinels around the text
    found = []
    for line in modinfo.decode("utf-8", "replace").splitlines():
        cols = line.split("\t")
        if cols[0] in ("mod", "dep") and len(cols) >= 3 and cols[2] not in ("", "(devel)"):
            found.append(Bundled("Go", cols[1][:200], cols[2][:100], path))
    return found


def _nested_zip(data: bytes, path: str, found: Found) -> None:
    """A .jar/.war/.whl inside the artifact: its pom.properties or dist-info METADATA.

    A zip's members compress a thousandfold: what is decompressed here counts against
    ``found.nested_read`` (all the nested archives of one artifact), and the components against
    ``COMPONENTS_MAX``, so a jar of twenty thousand 1 MiB METADATA files costs no more than the cap."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()[:NESTED_MEMBERS_MAX]
            for info in infos:
                name = info.filename
                if info.file_size > METADATA_MAX:
                    continue
                if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                    reader = maven_properties
                elif re.fullmatch(r"[^/]+\.dist-info/METADATA", name):
                    reader = python_metadata
                else:
                    continue
                if found.nested_read + info.file_size > NESTED_READ_MAX or len(found.components) >= COMPONENTS_MAX:
                    found.notes.append(f"{path}: the lab reads no more metadata out of nested archives "
                                       f"({NESTED_READ_MAX >> 20} MiB or {COMPONENTS_MAX} components)")
                    return
                found.nested_read += info.file_size
                got = reader(z.read(info), f"{path}!/{name}")
                if got:
                    found.components.append(got)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, zlib.error, RuntimeError):
        # RuntimeError: an encrypted member; zlib.error: a corrupt deflate stream
        found.notes.append(f"{path}: not a readable archive")


def _member(found: Found, path: str, size: int, read, executable: bool) -> None:
    """Look at one file of the artifact (``read(n)`` gives at most ``n`` of its bytes)."""
    base = posixpath.basename(path)
    parent = posixpath.basename(posixpath.dirname(path))
    got: list[Bundled] = []
    if base == "METADATA" and parent.endswith(".dist-info") and size <= METADATA_MAX:
        got = [c for c in [python_metadata(read(METADATA_MAX), path)] if c]
    elif base == "package.json" and "/node_modules/" in path and size <= METADATA_MAX:
        got = [c for c in [npm_metadata(read(METADATA_MAX), path)] if c]
    elif base == "pom.properties" and "/META-INF/maven/" in path and size <= METADATA_MAX:
        got = [c for c in [maven_properties(read(METADATA_MAX), path)] if c]
    elif base.endswith((".jar", ".war", ".whl")):
        if size <= NESTED_MAX:
            _nested_zip(read(NESTED_MAX), path, found)
        else:
            found.notes.append(f"{path}: larger than {NESTED_MAX >> 20} MiB, not read")
    elif path.startswith("/usr/share/doc/") and base == "copyright":
        text = _licence_text(found, path, size, read)
        if text is not None:
            found.copyright[parent] = text
    elif LICENCE_NAME.match(base):
        text = _licence_text(found, path, size, read)
        if text is not None:
            found.licence_files[path] = text
    elif executable and size <= ELF_MAX:
        head = read(4)
        if head == b"\x7fELF":
            got = go_buildinfo(head + read(ELF_MAX - 4), path)
    found.components.extend(got)


def _licence_text(found: Found, path: str, size: int, read) -> bytes | None:
    """A LICENSE/COPYING/NOTICE or copyright file's text, within the caps, each different text held
    once however many copies there are; None for one past the caps, which is said
    (``unread_licences``), never dropped in silence."""
    if size > LICENCE_FILE_MAX:
        found.unread_licences.append(f"{path} (larger than {LICENCE_FILE_MAX >> 20} MiB)")
        return None
    data = read(LICENCE_FILE_MAX)
    digest = hashlib.sha256(data).digest()
    if digest in found.licence_texts:
        return found.licence_texts[digest]  # the copy read is dropped: memory holds one of each
    if len(found.licence_texts) >= LICENCE_FILES_MAX:
        found.unread_licences.append(f"{path} (beyond {LICENCE_FILES_MAX} different licence texts)")
        return None
    if found.licence_bytes + len(data) > LICENCE_BYTES_MAX:
        found.unread_licences.append(f"{path} (beyond {LICENCE_BYTES_MAX >> 20} MiB of licence texts)")
        return None
    found.licence_texts[digest] = data
    found.licence_bytes += len(data)
    return data


def _walk_tar(tar: tarfile.TarFile, root: str, budget: _Budget, found: Found) -> None:
    for m in tar:
        budget.member(m.size)
        if not m.isfile():
            continue
        name = m.name[2:] if m.name.startswith("./") else m.name
        path = posixpath.normpath(posixpath.join(root, name.lstrip("/")))
        fh = tar.extractfile(m)
        if fh is None:
            continue
        _member(found, path, m.size, lambda n, fh=fh: budget.count(fh.read(n)), bool(m.mode & 0o111))
        if len(found.components) > COMPONENTS_MAX:
            found.notes.append(f"more than {COMPONENTS_MAX} bundled components: the rest are not listed")
            del found.components[COMPONENTS_MAX:]
            return


def scan(artifact: Artifact, file: Path, limits: Limits | None = None) -> Found:
    """Bundled components, licence files and (for a .deb) its copyright file, from one artifact."""
    limits = limits or Limits()
    found = Found()
    if artifact.format not in ("deb", "tar"):
        found.notes.append(f"{artifact.path}: {artifact.format} artifacts are read by the target's rpm, not here")
        return found
    with file.open("rb") as fh:
        budget = _Budget(artifact, os.fstat(fh.fileno()).st_size, limits)
        try:
            if artifact.format == "tar":
                with open_tar_stream(fh, budget.stream_cap) as tar:
                    _walk_tar(tar, artifact.prefix or "/", budget, found)
            else:
                with _tar_part(fh, _ar_parts(fh, artifact), "data.tar", budget) as tar:
                    _walk_tar(tar, "/", budget, found)
        except (StreamTooLong, ProductFailure, *UNREADABLE) as exc:
            # install.package has judged the artifact already; here an unreadable rest is a note
            found.notes.append(f"{artifact.path}: read only in part ({exc or type(exc).__name__})")
    return found


def merge(parts: list[Found]) -> Found:
    out = Found()
    for p in parts:
        out.components += p.components
        out.licence_files.update(p.licence_files)
        out.copyright.update(p.copyright)
        out.notes += p.notes
        out.unread_licences += p.unread_licences
    seen, unique = set(), []
    for c in out.components:
        key = (c.ecosystem, c.name, c.version, c.declared_in)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    out.components = unique
    return out
