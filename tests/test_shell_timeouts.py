"""A command of the persistent shell that ends badly, over a local ``sh``: a timeout kills the
command's processes (even one ignoring SIGTERM) and nothing else, and the shell goes on; a dead
channel is a lost connection; a command interrupted mid-frame takes its shell with it."""

from __future__ import annotations

import subprocess

import pytest

from lab.errors import CommandTimeout, ConnectionLost
from lab.transport.pool import ShellPool
from tests.local_shell import LocalChannel


def alive(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def test_timeout_kills_the_command_tree_and_the_shell_goes_on(shell):
    pid = shell.pid
    with pytest.raises(CommandTimeout, match="timed out after 1 s"):
        shell.run("sh -c 'sleep 61' & ( sleep 65 & ) ; sleep 62", 1)
    assert not alive("sleep 6[125]")  # the orphaned `sleep 65` too: it stayed in the group
    assert shell.run("echo alive", 5).stdout == "alive\n"
    assert (shell.pid, shell.dead) == (pid, False)  # the same shell, not a new one


def test_timeout_spares_what_earlier_commands_left_running(shell):
    """`timeout` killed the group of the command that timed out; a daemon started before is not its."""
    try:
        shell.run("sleep 6301 >/dev/null 2>&1 &", 10)
        with pytest.raises(CommandTimeout):
            shell.run("sleep 6402", 1)
        assert alive("sleep 6301") and not alive("sleep 6402")
    finally:
        subprocess.run(["pkill", "-f", "sleep 6301"])


def test_a_command_ignoring_sigterm_is_killed(shell):
    with pytest.raises(CommandTimeout):
        shell.run("trap '' TERM; sleep 6703", 1)
    assert not alive("sleep 6703")
    assert shell.run("echo after", 5).stdout == "after\n"


def test_dead_channel_is_connection_lost(shell):
    shell.channel.proc.kill()
    with pytest.raises(ConnectionLost, match="connection to local lost"):
        shell.run("true", 5)
    assert shell.dead


class Stop(Exception):
    """What a signal handler raises in the middle of a command (as Ctrl-C does in a worker)."""


def test_a_command_interrupted_mid_frame_takes_its_shell_with_it():
    """The command may still run in that shell: a later command (a teardown's) gets a new one
    instead of waiting behind it."""
    import signal

    pool = ShellPool("local", LocalChannel)

    def stop(signum, frame):
        raise Stop()

    old = signal.signal(signal.SIGALRM, stop)
    try:
        assert pool.run("echo warm", 10).stdout == "warm\n"
        (first,) = pool._all  # the one shell, idle: the next command takes it
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Stop):
            pool.run("echo started; sleep 7306", 30)
        assert first.dead and first not in pool._all
        assert pool.run("echo next", 10).stdout == "next\n"
        assert pool._all and first not in pool._all
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        pool.close()
        subprocess.run(["pkill", "-f", "sleep 7306"])


def test_a_lost_connection_is_explained_by_what_came_after_the_last_frame():
    """A review's reason read 'connection lost: E_9f9a...E_4427...debconf: delaying package
    configuration': the earlier frames' stderr and end markers; only the client's last words remain."""
    from types import SimpleNamespace

    from lab.transport.shell import last_words

    said = ("E_9f9a3721c1ad5d9bE_442716667897422edebconf: delaying package configuration, since apt-utils is "
            "not installed\nE_d10793c5389f6fc9E_cc844714a82dd5a8 (container exited)")
    assert last_words(SimpleNamespace(diagnose=lambda: said)) == "(container exited)"
    assert last_words(SimpleNamespace(diagnose=lambda: "ssh: connection closed")) == "ssh: connection closed"
    assert last_words(SimpleNamespace(diagnose=lambda: "")) == ""
