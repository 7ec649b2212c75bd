"""CPU architectures, one table: how ``uname -m``, Debian, RPM and the ELF header name each.

Example::

    ARCHES["aarch64"].deb        # "arm64"
    from_deb("arm64")            # "aarch64"
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    uname: str   # what the lab calls it everywhere (facts, tags, certificates)
    deb: str     # Debian's name (Architecture:, debootstrap --arch)
    rpm: str     # RPM's name
    elf: str     # e_machine as pyelftools names it


ARCHES: dict[str, Arch] = {a.uname: a for a in [
    Arch("x86_64", "amd64", "x86_64", "EM_X86_64"),
    Arch("aarch64", "arm64", "aarch64", "EM_AARCH64"),
    Arch("i686", "i386", "i686", "EM_386"),
    Arch("armv7l", "armhf", "armv7hl", "EM_ARM"),
    Arch("loongarch64", "loong64", "loongarch64", "EM_LOONGARCH"),
    Arch("riscv64", "riscv64", "riscv64", "EM_RISCV"),
    Arch("ppc64le", "ppc64el", "ppc64le", "EM_PPC64"),
    Arch("mips64", "mips64el", "mips64el", "EM_MIPS"),
    Arch("s390x", "s390x", "s390x", "EM_S390"),
]}


def deb_name(uname: str) -> str:
    return ARCHES[uname].deb if uname in ARCHES else uname


def from_deb(deb: str) -> str:
    return next((a.uname for a in ARCHES.values() if a.deb == deb), deb)


def elf_machine(uname: str) -> str | None:
    return ARCHES[uname].elf if uname in ARCHES else None


def from_elf(machine: str) -> str | None:
    return next((a.uname for a in ARCHES.values() if a.elf == machine), None)
