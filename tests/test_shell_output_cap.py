"""The persistent shell's output cap, over a local ``sh``: exact up to the cap, head and tail with the
cut stated beyond it, one MiB by default; frames split anywhere in the stream come back exact, and
the cap is kept by the controller in bounded memory. A scripted target's large and endless outputs
are in tests/test_shell_scripted_target.py."""

from __future__ import annotations

import os
import random
import tracemalloc

import pytest

from lab.transport.shell import CappedStream, FramedStream
from tests.local_shell import CAP


def cut_note(printed: int, cap: int = CAP) -> bytes:
    return f"\n[... {printed - cap} bytes cut by the lab: the command printed {printed} bytes ...]\n".encode()


def test_output_up_to_the_cap_is_exact_even_binary(shell, tmp_path):
    data = os.urandom(CAP - 20) + b"\0LAB_SEP_x LAB_END_y 0\n"[:20]
    (tmp_path / "exact").write_bytes(data)
    r = shell.run(f"cat {tmp_path}/exact; cat {tmp_path}/exact >&2", 10, CAP)
    assert (r.stdout_bytes, r.stderr_bytes) == (data, data)


def test_output_beyond_the_cap_is_head_and_tail_with_the_cut_stated(shell, tmp_path):
    out, err = os.urandom(5 * CAP + 3), os.urandom(CAP + 1)
    (tmp_path / "out").write_bytes(out)
    (tmp_path / "err").write_bytes(err)
    r = shell.run(f"cat {tmp_path}/out; cat {tmp_path}/err >&2; exit 3", 10, CAP)
    half = CAP // 2
    assert r.exit_status == 3
    assert r.stdout_bytes == out[:half] + cut_note(len(out)) + out[-half:]
    assert r.stderr_bytes == err[:half] + cut_note(len(err)) + err[-half:]
    assert b"[... 1 bytes cut by the lab: the command printed 4097 bytes ...]" in r.stderr_bytes
    assert shell.run("echo next", 10, CAP).stdout == "next\n"


def test_the_default_cap_is_one_mib_and_a_huge_line_comes_back_capped(shell):
    r = shell.run("head -c 33554432 /dev/zero | tr '\\0' a", 60)
    assert len(r.stdout_bytes) < (1 << 20) + 200
    assert "[... 32505856 bytes cut by the lab: the command printed 33554432 bytes ...]" in r.stdout
    assert r.stdout.startswith("a" * 1000) and r.stdout.endswith("a" * 1000)


def expected(data: bytes, cap: int) -> bytes:
    if len(data) <= cap:
        return data
    head, tail = cap // 2, cap - cap // 2
    return data[:head] + cut_note(len(data), cap) + data[-tail:]


@pytest.mark.parametrize("seed", range(20))
def test_frames_split_anywhere_come_back_exact(seed):
    """The stream cut into reads of any size, markers split across reads, data full of near-markers."""
    rng = random.Random(seed)
    end = b"E_" + bytes(rng.choice(b"0123456789abcdef") for _ in range(16))
    noise = [b"E_", end[:-1], end[:5], b"\0", b"\n", os.urandom(7), b"x" * 50]
    data = b"".join(rng.choice(noise) for _ in range(rng.randrange(0, 400)))
    cap = rng.choice([2, 3, 64, 1000, 1 << 20])
    stream = FramedStream(end + b" ", cap, True)
    wire = data + end + b" 7\nstray" + end
    i = 0
    while i < len(wire):
        n = rng.randrange(1, 40)
        stream.feed(wire[i:i + n])
        i += n
    assert stream.done and stream.trailer == b"7"
    assert stream.out.value() == expected(data, cap)


def test_the_cap_is_kept_in_bounded_memory_whatever_the_size():
    cap = 1 << 20
    stream = CappedStream(cap)
    chunk = os.urandom(65536)
    tracemalloc.start()
    try:
        for _ in range(2048):  # 128 MiB
            stream.add(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * cap + 2 * len(chunk)
    assert stream.total == 2048 * 65536
    value = stream.value()
    assert value.startswith(chunk[:cap // 2]) and value.endswith(chunk[-(cap // 2):])
    assert cut_note(2048 * 65536, cap) in value
