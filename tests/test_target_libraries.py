"""The target's libraries read from the lab's side where it can (a container's files on the host),
through the transport otherwise: the same symbol versions either way."""

from __future__ import annotations

from pathlib import Path

from lab.suite.libraries import TargetLibraries
from lab.transport.base import CommandResult

LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


class Transport:
    """The target's shell answers ``ldconfig -p`` and ``readlink -f``; its files come from this machine."""

    def __init__(self):
        self.fetched: list[str] = []

    def run(self, command: str, **_kw) -> CommandResult:
        if command.startswith("ldconfig"):
            out = f"\tlibc.so.6 (libc6,x86-64) => {LIBC}\n"
        else:
            out = str(LIBC.resolve()) + "\n"
        return CommandResult(command, 0, out.encode(), b"", 0.0)

    def get_bytes(self, path: str) -> bytes:
        self.fetched.append(path)
        return Path(path).read_bytes()


def test_symbol_versions_read_from_the_host_are_those_the_transport_fetches():
    read: list[str] = []

    def from_host(path: str, most: int) -> bytes | None:
        read.append(path)
        return Path(path).read_bytes()[:most]

    plain = Transport()
    through = TargetLibraries(plain, "x86_64").definitions("libc.so.6")
    host = Transport()
    beside = TargetLibraries(host, "x86_64", read=from_host).definitions("libc.so.6")
    assert through and "GLIBC_2.34" in through
    assert beside == through
    assert read == [str(LIBC.resolve())] and host.fetched == [] and plain.fetched == [str(LIBC.resolve())]


def test_a_file_the_host_cannot_read_is_fetched_through_the_transport():
    t = Transport()
    found = TargetLibraries(t, "x86_64", read=lambda _path, _most: None).definitions("libc.so.6")
    assert found and t.fetched == [str(LIBC.resolve())]
