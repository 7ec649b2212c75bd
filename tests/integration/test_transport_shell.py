"""The persistent shell on real targets (a container, an emulated container, a board over SSH):
vendor-controlled output cannot break the framing, a timeout kills the command's processes and
nothing the lab or an earlier command started, and the same shell goes on."""

from __future__ import annotations

import contextlib
import threading

import pytest

from lab.errors import CommandTimeout, ProductFailure
from lab.provision import board as boards
from lab.provision import provision, simulated
from lab.runid import new_run_id
from lab.transport.ssh import SshTransport

pytestmark = [pytest.mark.slow, pytest.mark.docker]
BOARD = "board-debian12-x86_64"

# What a vendor's script may print: marker-like text, NUL bytes, a huge line, no final newline.
HOSTILE = ("printf 'E_0123456789abcdef 0\\nX_0123456789abcdef\\0\\0LAB_END_x 1\\n'; "
           "head -c 3000000 /dev/zero | tr '\\0' L; printf 'E_'; printf 'no newline E_' >&2")


def running(transport, pattern: str) -> bool:
    return transport.run(f"ps -eo args | grep -v grep | grep -q '{pattern}'").ok


def check_hostile_output(t) -> None:
    t.output_max_bytes = 4 << 20  # the huge line under the cap: every byte, exact
    try:
        r = t.run(HOSTILE)
    finally:
        t.output_max_bytes = 1 << 20
    assert r.exit_status == 0
    assert r.stdout_bytes == (b"E_0123456789abcdef 0\nX_0123456789abcdef\0\0LAB_END_x 1\n" + b"L" * 3_000_000
                              + b"E_")
    assert r.stderr_bytes == b"no newline E_"
    assert t.run("echo next; exit 4").stdout == "next\n"


def check_timeout(t) -> None:
    """An earlier command's daemon and a service in its own session outlive a timed-out command;
    the command and what it started (an orphan in its group too) do not; the shell goes on."""
    try:
        t.run("sleep 7301 >/dev/null 2>&1 & setsid sleep 7302 >/dev/null 2>&1 < /dev/null &")
        with pytest.raises(CommandTimeout):
            t.run("sh -c 'sleep 7303' & ( sleep 7304 & ) ; sleep 7305", timeout=1)
        assert running(t, "sleep 7301") and running(t, "sleep 7302")
        assert not any(running(t, f"sleep 730{i}") for i in (3, 4, 5))
        assert t.run("echo again").stdout == "again\n"
    finally:
        t.run("pkill -f 'sleep 730[12]'; true")


def check_killed_shell(t) -> None:
    """A script that kills its process group (the lab's shell with it) is the product's doing, not a
    lost connection: the target still answers, and the next command gets a new shell."""
    with pytest.raises(ProductFailure, match="the lab's shell on the target was killed while it ran `kill -KILL 0`"):
        t.run("kill -KILL 0")
    assert t.run("echo after").stdout == "after\n"


def test_container(bookworm):
    check_hostile_output(bookworm.transport)
    check_timeout(bookworm.transport)
    check_killed_shell(bookworm.transport)


def test_emulated_container(inventory, built):
    """qemu-user fakes a process's own /proc/PID/stat: the shell's group is read another way."""
    target = built("debian12-aarch64")
    with provision(target, new_run_id("test"), inventory.model.lab) as p:
        assert p.transport.run("uname -m").stdout == "aarch64\n"
        check_timeout(p.transport)


@contextlib.contextmanager
def board_transport(inventory, built):
    built("debian12-x86_64")
    target = inventory.model.get(BOARD)
    with boards.board_lock(BOARD, wait_s=600):  # not in the middle of someone's run
        simulated.up(inventory, target)
        t = SshTransport(target.name, target.ssh, ["127.0.0.0/8"])
        try:
            yield t
        finally:
            t.close()


def test_board(inventory, built):
    with board_transport(inventory, built) as t:
        check_hostile_output(t)
        check_timeout(t)
        check_killed_shell(t)
        results = {}

        def work(i):
            results[i] = [t.run(f"echo {i}-{n}; echo e{i} >&2").stdout for n in range(20)]

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert results == {i: [f"{i}-{n}\n" for n in range(20)] for i in range(3)}
