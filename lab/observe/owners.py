"""Who put a path on the target: the product's own packages, an OS package its install brought in
from the target's repositories, or a script (a maintainer script or the vendor's install script).

Only what the product's packages and scripts did counts against it; files of OS packages that
are still installed (a dependency apt's autoremove keeps) are information, with the package named.
The OS packages' file lists are read on the controller from the very packages the lab's
downloader fetched, not from the target's package database, which a maintainer script can edit.

Example::

    owners = Owners.of(deployment)
    owners.owner("/etc/perl/Config.pm")   # ("os", "perl")
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Callable, Iterable
from typing import Protocol

from debian.debfile import DebError, DebFile

from lab.hashing import sha256_bytes

# Debian 12 and later merge /bin into /usr/bin (and so on): a package lists /bin/sh, the disk has
# /usr/bin/sh. Paths are compared in their /usr form.
MERGED = {"/bin": "/usr/bin", "/sbin": "/usr/sbin", "/lib": "/usr/lib", "/lib32": "/usr/lib32",
          "/lib64": "/usr/lib64", "/libx32": "/usr/libx32"}

Lookup = Callable[[list[str]], dict[str, str]]


def canonical(path: str) -> str:
    path = posixpath.normpath("/" + path.lstrip("./"))
    for old, new in MERGED.items():
        if path == old or path.startswith(old + "/"):
            return new + path[len(old):]
    return path


def deb_paths(data: bytes) -> tuple[str, list[str]]:
    """(package name, the paths it installs, folders included) of a .deb given as bytes."""
    deb = DebFile(fileobj=io.BytesIO(data))
    name = deb.debcontrol().get("Package", "")
    return name, [canonical(m.name) for m in deb.data.tgz() if canonical(m.name) != "/"]


class PathMemo(Protocol):
    """Where file lists read from package files are kept between runs (the dependency cache).
    Neither method raises: a memo that cannot be read or written only makes the run slower."""

    def paths(self, name: str, sha256: str) -> tuple[str, list[str]] | None: ...

    def put_paths(self, name: str, sha256: str, package: str, paths: list[str]) -> None: ...


def archive_packages(archive: bytes, memo: PathMemo | None = None) -> dict[str, str]:
    """path -> package, for every .deb in a downloaded apt cache (a tar of its folder).

    Listing a package's paths means decompressing all of it (a second of CPU for a few packages,
    while apt installs them on the target); with a ``memo``, a package file read before, with the
    same bytes, is not read again."""
    owners: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".deb")):
                continue
            data = tar.extractfile(member).read()
            name = posixpath.basename(member.name)
            digest = sha256_bytes(data) if memo is not None else ""  # what a memo is kept against
            found = memo.paths(name, digest) if memo is not None else None
            if found is None:
                try:
                    found = deb_paths(data)
                except (DebError, tarfile.TarError, KeyError, OSError):
                    continue
                if memo is not None:
                    memo.put_paths(name, digest, *found)
            package, paths = found
            for p in paths:
                owners.setdefault(p, package)
    return owners


class Owners:
    def __init__(self, product: dict[str, str], os_packages: dict[str, str], lookup: Lookup | None = None):
        self.product = {canonical(p): pkg for p, pkg in product.items()}
        self.os_packages = {canonical(p): pkg for p, pkg in os_packages.items()}
        self.lookup = lookup
        self._looked_up: dict[str, str] = {}

    @classmethod
    def of(cls, deployment, lookup: Lookup | None = None) -> Owners:
        product = {m.path: s.contents.package or s.name for _, s in deployment.steps for m in s.contents.members}
        mine = deployment.packages()
        os_packages: dict[str, str] = {}
        indexed = deployment.dependency_paths()
        for paths in indexed:
            os_packages.update({p: pkg for p, pkg in paths.items() if pkg not in mine})
        # Without an archive (a board downloads for itself) the target's own database is asked.
        return cls(product, os_packages, lookup if not indexed else None)

    def prefetch(self, paths: Iterable[str]) -> None:
        wanted = [canonical(p) for p in paths]
        wanted += [src for src in map(byte_code_source, wanted) if src]
        unknown = list(dict.fromkeys(p for p in wanted if p not in self.product and p not in self.os_packages))
        if self.lookup and unknown:
            self._looked_up.update({canonical(p): pkg for p, pkg in self.lookup(unknown).items()})

    def owner(self, path: str) -> tuple[str, str]:
        """("product", package) | ("os", package) | ("scripts", "").

        Python's byte code is written by the package's own maintainer script (``py3compile``), so
        it is in no file list: ``dir/__pycache__/mod.cpython-311.pyc`` (and that ``__pycache__``
        folder) belongs to whoever installed ``dir/mod.py`` (and ``dir``)."""
        c = canonical(path)
        source = byte_code_source(c)
        if source is not None:
            found = self.owner(source)
            if found[0] != "scripts":
                return found
        if c in self.product:
            return "product", self.product[c]
        if c in self.os_packages:
            return "os", self.os_packages[c]
        if c in self._looked_up:
            return "os", self._looked_up[c]
        return "scripts", ""


def byte_code_source(path: str) -> str | None:
    """The file (or folder) a ``__pycache__`` entry was compiled from, else None."""
    folder, name = posixpath.split(path)
    if name == "__pycache__":
        return folder
    if posixpath.basename(folder) != "__pycache__" or not name.endswith(".pyc"):
        return None
    return posixpath.join(posixpath.dirname(folder), name.split(".", 1)[0] + ".py")


def dpkg_lookup(transport) -> Lookup:
    """``dpkg -S`` on the target, for boards (whose own tools are all the lab has)."""
    import shlex

    def lookup(paths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(paths), 200):
            chunk = paths[i:i + 200]
            out = transport.run("dpkg -S " + " ".join(shlex.quote(p) for p in chunk) + " 2>/dev/null; true").stdout
            for line in out.splitlines():
                pkgs, sep, path = line.partition(": ")
                if sep and not pkgs.startswith("diversion"):
                    found[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
        return found
    return lookup
