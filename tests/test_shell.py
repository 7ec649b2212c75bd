"""The framing of the persistent shell, over a local ``sh`` (fast; no container needed)."""

from __future__ import annotations

import os
import selectors
import subprocess

import pytest

from lab.errors import CommandTimeout, ConnectionLost
from lab.transport.shell import Channel, PersistentShell


class LocalChannel(Channel):
    def __init__(self):
        self.proc = subprocess.Popen(["sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def send(self, data):
        self.proc.stdin.write(data)

    def recv(self, timeout):
        if not self.sel.select(timeout):
            raise TimeoutError
        return os.read(self.proc.stdout.fileno(), 65536)

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def shell():
    s = PersistentShell(LocalChannel(), "local")
    yield s
    s.close()


def test_exit_code_stdout_stderr_are_separate_and_exact(shell):
    r = shell.run("printf 'out\\nno-newline'; printf 'err' >&2; exit 7", 10)
    assert (r.exit_status, r.stdout, r.stderr) == (7, "out\nno-newline", "err")


def test_quoting_heredoc_markers_and_binary(shell):
    tricky = "echo \"$HOME\" '$HOME' `echo x` \\\\ ; cat <<'EOF'\nLAB_END_fake 1 LAB_OUT_x LAB_ERR_y\nEOF"
    r = shell.run(tricky, 10)
    assert r.stdout.splitlines()[1] == "LAB_END_fake 1 LAB_OUT_x LAB_ERR_y"
    assert r.stdout.splitlines()[0].endswith("$HOME x \\")
    r = shell.run("head -c 300000 /dev/urandom | tee /tmp/.lab-bin | wc -c; cat /tmp/.lab-bin >&2", 10)
    assert int(r.stdout) == 300000 and len(r.stderr_bytes) == 300000


def test_state_does_not_leak_between_commands(shell):
    shell.run("cd /; X=1; export Y=2", 10)
    r = shell.run('echo "[$X][$Y]"; read line; echo "stdin=[$line]"', 10)
    assert r.stdout == "[][]\nstdin=[]\n"


def test_timeout_kills_the_command_tree_and_the_shell_goes_on(shell):
    with pytest.raises(CommandTimeout, match="timed out after 1 s"):
        shell.run("sh -c 'sleep 61' & sleep 62", 1)
    assert subprocess.run(["pgrep", "-f", "sleep 6[12]"], capture_output=True).stdout == b""
    assert shell.run("echo alive", 5).stdout == "alive\n"


def test_dead_channel_is_connection_lost(shell):
    shell.channel.proc.kill()
    with pytest.raises(ConnectionLost, match="connection to local lost"):
        shell.run("true", 5)
    assert shell.dead


def test_a_command_longer_than_one_argv_string_still_runs(shell):
    long = "x=" + "a" * 200_000 + "; echo ${#x}"
    assert shell.run(long, 10).stdout == "200000\n"


def test_a_quiet_command_longer_than_one_read_is_not_a_timeout(shell):
    r = shell.run("sleep 6; echo done", 20)
    assert (r.exit_status, r.stdout) == (0, "done\n")
