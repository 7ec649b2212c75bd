"""What the build host offers: its apt mirror, and binfmt for running foreign architectures."""

from __future__ import annotations

import platform
from pathlib import Path

from debian.deb822 import Deb822

from lab.errors import InfrastructureError

BINFMT = Path("/proc/sys/fs/binfmt_misc")


def apt_mirror(etc: Path = Path("/etc/apt")) -> str:
    """The first Debian URI of the machine's apt sources (deb822 or one-line format)."""
    for src in sorted((etc / "sources.list.d").glob("*.sources")):
        for para in Deb822.iter_paragraphs(src.read_text()):
            if "URIs" in para and "security" not in para["URIs"]:
                return para["URIs"].split()[0]
    legacy = etc / "sources.list"
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    raise InfrastructureError("no Debian mirror in /etc/apt sources; give one with --mirror or [lab].mirror")


def security_mirror(mirror: str, etc: Path = Path("/etc/apt")) -> str:
    """Where the release's security updates come from: the machine's own security source, else
    the mirror's ``-security`` twin (``.../debian`` -> ``.../debian-security``)."""
    for src in sorted((etc / "sources.list.d").glob("*.sources")):
        for para in Deb822.iter_paragraphs(src.read_text()):
            if "URIs" in para and "security" in para["URIs"]:
                return para["URIs"].split()[0]
    legacy = etc / "sources.list"
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" in line:
                return next(p for p in parts[1:] if "://" in p)
    return mirror.rstrip("/") + "-security"


def host_arch() -> str:
    return platform.machine()


def require_binfmt(uname_arch: str) -> None:
    """A foreign-arch image only runs if the kernel hands its binaries to qemu."""
    if uname_arch == host_arch():
        return
    entry = BINFMT / f"qemu-{uname_arch}"
    if entry.exists() and entry.read_text().startswith("enabled"):
        return
    raise InfrastructureError(
        f"{uname_arch} binaries cannot run here: binfmt_misc has no enabled qemu-{uname_arch}. "
        "Enable it with: apt-get install qemu-user-static binfmt-support && "
        "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable"
    )
