"""The target's shared libraries, as its own dynamic linker sees them (``ldconfig -p``).

Symbol versions are read from the target's real files, never from a table: aarch64's glibc 2.17
already exports some GLIBC_2.18 symbols, and LoongArch starts at 2.36.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lab.arch import elf_machine
from lab.elf import parse as parse_elf
from lab.elf import version_definitions
from lab.transport.base import Transport

LINE = re.compile(r"^\s*(\S+) \(([^)]*)\) => (\S+)$")


READ_MOST = 512 << 20  # a library read from the host bigger than this is fetched through the transport


class TargetLibraries:
    def __init__(self, transport: Transport, arch: str,
                 read: Callable[[str, int], bytes | None] | None = None):
        """``read(path, most)``: a file of the target read from the lab's side (a container's files
        on the host, ``Observer.read``), where a fetch through the container engine's API cost a
        tenth of a second a library; None reads through the transport."""
        self.t = transport
        self.arch = arch
        self._read = read
        self._defs: dict[str, set[str] | None] = {}
        self.refresh()

    def refresh(self) -> None:
        """Read the linker cache again (after an install added libraries)."""
        out = self.t.run("ldconfig -p 2>/dev/null || /sbin/ldconfig -p").stdout
        self.index: dict[str, list[str]] = {}
        for line in out.splitlines():
            m = LINE.match(line)
            if m:
                self.index.setdefault(m.group(1), []).append(m.group(3))

    def has(self, soname: str) -> bool:
        return soname in self.index

    def exists(self, path: str) -> bool:
        return self.t.run(f"test -e '{path}'").ok

    def definitions(self, soname: str) -> set[str] | None:
        """Symbol versions the target's ``soname`` (of the target's arch) defines; None if absent."""
        if soname not in self._defs:
            self._defs[soname] = None
            for path in self.index.get(soname, []):
                real = self.t.run(f"readlink -f '{path}'").stdout.strip() or path
                try:
                    data = self._bytes(real)
                except (FileNotFoundError, IsADirectoryError):
                    continue
                info = parse_elf(real, data)
                if info and info.machine == elf_machine(self.arch):
                    self._defs[soname] = version_definitions(data)
                    break
        return self._defs[soname]

    def _bytes(self, path: str) -> bytes:
        if self._read is not None:
            data = self._read(path, READ_MOST)
            if data is not None and len(data) < READ_MOST:
                return data
            del data  # not held while the transport fetches the whole of a bigger one
        return self.t.get_bytes(path)
