"""The persistent shell against a target scripted in process (no ``sh``): a large output is
buffered in place, linearly, and an endless stream is capped in bounded memory until its timeout,
which closes the shell that nothing on that target could kill."""

from __future__ import annotations

import os
import re
import tracemalloc

import pytest

from lab.errors import CommandTimeout
from lab.transport.channel import STDERR, STDOUT, Channel
from lab.transport.shell import PersistentShell
from tests.local_shell import CAP


class ScriptedTarget(Channel):
    """Answers each frame the shell sends with ``payload`` as stdout, in ``chunk``-byte reads;
    ``endless`` never ends the command's frame."""

    def __init__(self, payload: bytes = b"", chunk: int = 4096, endless: bool = False):
        self.payload, self.chunk, self.endless = payload, chunk, endless
        self.pending = {STDOUT: bytearray(), STDERR: bytearray()}
        self.frames = 0

    def send(self, data):
        if (lead := re.search(rb"printf 'X_([0-9a-f]+)'", data)) is not None:
            self.pending[STDOUT] += b"X_" + lead.group(1)
            return
        found = re.search(rb"E_([0-9a-f]+)", data)
        if found is None:  # the shell's goodbye
            return
        end = b"E_" + found.group(1)
        self.frames += 1
        if self.frames == 1:  # the shell's setup: its pid and group
            self.pending[STDOUT] += end + b" 4242 4242\n"
            self.pending[STDERR] += end
            return
        self.pending[STDOUT] += self.payload
        if not self.endless:
            self.pending[STDOUT] += end + b" 0\n"
            self.pending[STDERR] += end

    def recv_any(self, timeout):
        for which in (STDERR, STDOUT):
            if self.pending[which]:
                data = bytes(self.pending[which][:self.chunk])
                del self.pending[which][:self.chunk]
                return which, data
        if self.endless and self.frames > 1:
            return STDOUT, b"x" * self.chunk
        raise TimeoutError

    def close(self):
        pass


def test_a_large_output_is_buffered_in_place_linearly():
    payload = os.urandom(4 << 20)
    shell = PersistentShell(ScriptedTarget(payload, chunk=4096), "scripted")
    tracemalloc.start()
    try:
        r = shell.run("anything", 60, output_max_bytes=8 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.stdout_bytes == payload and r.stderr_bytes == b""
    assert peak < 2 * len(payload) + (1 << 20)  # the stream, and the result made of it


def test_an_endless_stream_is_capped_in_bounded_memory_until_its_timeout():
    shell = PersistentShell(ScriptedTarget(endless=True, chunk=65536), "endless")
    tracemalloc.start()
    try:
        with pytest.raises(CommandTimeout):
            shell.run("yes", 1, output_max_bytes=CAP)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert shell.dead  # nothing could kill it on this target: its shell is closed
    assert peak < 3 * CAP + 4 * 65536
