"""What a vendor's ELF file needs from a target, read on the controller with pyelftools.

No vendor code runs here: the file's headers are parsed as data.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

from lab.arch import from_elf

DF_BIND_NOW, DF_1_NOW = 0x8, 0x1


@dataclass
class ElfInfo:
    path: str
    machine: str
    elf_type: str
    needed: list[str] = field(default_factory=list)
    version_needs: dict[str, set[str]] = field(default_factory=dict)  # library -> {GLIBC_2.34, ...}
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)
    soname: str | None = None
    interp: str | None = None
    pie: bool = False
    relro: str = "none"  # none | partial | full
    nx: bool = True
    canary: bool = False
    bind_now: bool = False

    @property
    def arch(self) -> str:
        return from_elf(self.machine) or self.machine


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def parse(path: str, data: bytes) -> ElfInfo | None:
    """None for a file that is not ELF (or too broken to read: then ``readelf`` would fail too)."""
    if not is_elf(data):
        return None
    try:
        elf = ELFFile(io.BytesIO(data))
        info = ElfInfo(path=path, machine=elf["e_machine"], elf_type=elf["e_type"])
        _dynamic(elf, info)
        _segments(elf, info)
        _versions(elf, info)
        _symbols(elf, info)
    except (ELFError, ValueError, KeyError, IndexError, OverflowError, struct.error):
        return None  # OverflowError: an offset past what Python seeks (2**63 and up)
    return info


def _dynamic(elf: ELFFile, info: ElfInfo) -> None:
    flags = flags_1 = 0
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                info.needed.append(tag.needed)
            elif kind == "DT_RPATH":
                info.rpath += tag.rpath.split(":")
            elif kind == "DT_RUNPATH":
                info.runpath += tag.runpath.split(":")
            elif kind == "DT_SONAME":
                info.soname = tag.soname
            elif kind == "DT_FLAGS":
                flags = tag.entry.d_val
            elif kind == "DT_FLAGS_1":
                flags_1 = tag.entry.d_val
            elif kind == "DT_BIND_NOW":
                flags |= DF_BIND_NOW
    info.pie = info.elf_type == "ET_DYN" and bool(flags_1 & 0x08000000)  # DF_1_PIE
    info.bind_now = bool(flags & DF_BIND_NOW or flags_1 & DF_1_NOW)


def _segments(elf: ELFFile, info: ElfInfo) -> None:
    relro = False
    for seg in elf.iter_segments():
        kind = seg["p_type"]
        if kind == "PT_INTERP":
            info.interp = seg.get_interp_name()
        elif kind == "PT_GNU_RELRO":
            relro = True
        elif kind == "PT_GNU_STACK":
            info.nx = not seg["p_flags"] & 0x1
    if info.elf_type == "ET_DYN" and info.interp and not info.pie:
        info.pie = True  # older linkers set no DF_1_PIE; an ET_DYN with an interpreter is a PIE
    info.relro = ("full" if info.bind_now else "partial") if relro else "none"


def _versions(elf: ELFFile, info: ElfInfo) -> None:
    for section in elf.iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for verneed, aux_iter in section.iter_versions():
                names = info.version_needs.setdefault(verneed.name, set())
                names.update(aux.name for aux in aux_iter)


def _symbols(elf: ELFFile, info: ElfInfo) -> None:
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is None:
        return
    for sym in dynsym.iter_symbols():
        if sym.name == "__stack_chk_fail":
            info.canary = True
            return


def version_definitions(data: bytes) -> set[str]:
    """The symbol versions a library defines (e.g. every ``GLIBC_2.x`` of a ``libc.so.6``)."""
    elf = ELFFile(io.BytesIO(data))
    found: set[str] = set()
    for section in elf.iter_sections():
        if isinstance(section, GNUVerDefSection):
            for _verdef, aux_iter in section.iter_versions():
                found.update(aux.name for aux in aux_iter)
    return found


def version_key(name: str) -> tuple:
    """``GLIBC_2.38`` -> ("GLIBC", (2, 38)), so versions sort as numbers."""
    prefix, _, num = name.partition("_")
    parts = tuple(int(p) if p.isdigit() else 0 for p in num.split("."))
    return prefix, parts
