"""The framing of the persistent shell, over a local ``sh`` (fast; no container needed): exact
bytes, the output cap, linear buffering; and the commands the transports and the service
supervisor build from hostile names, run for real in that shell."""

from __future__ import annotations

import io
import os
import re
import selectors
import shlex
import subprocess
import tarfile

import pytest

from lab.errors import CommandTimeout, ConnectionLost, InfrastructureError, ProductFailure
from lab.service import Supervisor
from lab.submission.model import Service
from lab.transport.base import Transport
from lab.transport.docker import DockerTransport
from lab.transport.shell import Channel, PersistentShell, ShellPool
from lab.transport.ssh import SshTransport


class LocalChannel(Channel):
    def __init__(self, cwd=None):
        self.proc = subprocess.Popen(["sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, cwd=cwd)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def send(self, data):
        self.proc.stdin.write(data)

    def recv(self, timeout):
        if not self.sel.select(timeout):
            raise TimeoutError
        return os.read(self.proc.stdout.fileno(), 65536)

    def close(self):
        try:  # let the shell run its `rm -rf` of the frame folder and exit
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
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


# -- the output cap -------------------------------------------------------------------------------
CAP = 4096


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
    assert os.path.getsize(f"{shell.dir}/out") == 0  # emptied at once, not left on the target's disk
    assert shell.run("echo next", 10, CAP).stdout == "next\n"


def test_the_default_cap_is_one_mib_and_a_big_output_returns_quickly(shell):
    r = shell.run("head -c 33554432 /dev/zero", 60)
    assert len(r.stdout_bytes) < (1 << 20) + 200
    assert "[... 32505856 bytes cut by the lab: the command printed 33554432 bytes ...]" in r.stdout


class ScriptedTarget(Channel):
    """Answers each frame the shell sends with ``payload`` as stdout, in ``chunk``-byte reads, and
    records the controller's buffer at every read; ``endless`` never ends the frame."""

    def __init__(self, payload: bytes = b"", chunk: int = 4096, endless: bool = False):
        self.payload, self.chunk, self.endless = payload, chunk, endless
        self.pending = bytearray()
        self.shell = None
        self.buffers: list[tuple[int, int]] = []  # (id, len) of the shell's buffer at each read

    def send(self, data):
        found = re.search(rb"LAB_END_([0-9a-f]+)", data)
        if found is None:  # the shell's goodbye
            return
        token = found.group(1)
        sep = b"LAB_SEP_" + token
        body = self.payload if self.shell is not None else b""  # the first frame is the shell's setup
        self.pending += sep + body + sep + b"LAB_END_" + token + b" 0\n"

    def recv(self, timeout):
        if self.shell is not None:
            self.buffers.append((id(self.shell._buf), len(self.shell._buf)))
        if self.endless:
            return b"x" * self.chunk
        data = bytes(self.pending[:self.chunk])
        del self.pending[:self.chunk]
        if not data:
            raise TimeoutError
        return data

    def close(self):
        pass


def test_a_large_output_is_buffered_in_place_linearly():
    payload = os.urandom(4 << 20)
    target = ScriptedTarget(payload, chunk=4096)
    shell = PersistentShell(target, "scripted")
    target.shell = shell
    r = shell.run("anything", 60, output_max_bytes=8 << 20)
    assert r.stdout_bytes == payload and r.stderr_bytes == b""
    assert len(target.buffers) > 1000
    assert len({buf_id for buf_id, _ in target.buffers}) == 1  # grown in place: no copy per read
    assert max(n for _, n in target.buffers) <= len(payload) + 200
    assert len(shell._buf) == 0


def test_a_target_that_ignores_the_cap_is_cut_off_at_a_bound():
    target = ScriptedTarget(endless=True, chunk=65536)
    target.endless = False
    shell = PersistentShell(target, "hostile")
    target.shell, target.endless = shell, True
    with pytest.raises(InfrastructureError, match=r"sent more than \d+ bytes for one command"):
        shell.run("cat /dev/zero", 60, output_max_bytes=CAP)
    assert shell.dead
    assert max(n for _, n in target.buffers) <= 2 * (CAP + 1) + 64 * 1024 + 65536


# -- hostile names in the transports' commands, run for real in a local shell ----------------------
HOSTILE = "it's $(touch PWNED1) `touch PWNED2`\n; touch PWNED3 {spool} \"x\" -rf"


class LocalSftp:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def putfo(self, fh, path):
        with open(path, "wb") as out:
            out.write(fh.read())

    def getfo(self, path, fh):
        with open(path, "rb") as src:
            fh.write(src.read())


class LocalSsh(SshTransport):
    """The SSH transport's own file commands, with a local shell and a local 'SFTP'."""

    def __init__(self, cwd):
        Transport.__init__(self, "local-ssh")
        self.shells = ShellPool(self.name, lambda: LocalChannel(cwd))
        self.lost = None
        self.client = None

    def _sftp(self):
        return LocalSftp()


class FakeContainer:
    """Docker's archive API, on this machine's filesystem."""

    def put_archive(self, folder, data):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(folder, filter="data")


def no_canary(folder):
    assert not [p for p in os.listdir(folder) if p.startswith("PWNED")], "a file name was run as a command"


@pytest.mark.skipif(os.geteuid() != 0, reason="put_bytes chowns to root")
def test_ssh_file_commands_quote_hostile_names(tmp_path):
    t = LocalSsh(tmp_path)
    folder = tmp_path / HOSTILE
    path = folder / f"-{HOSTILE}.bin"
    try:
        t.put_bytes(b"\x00payload", str(path), 0o600)
        assert path.read_bytes() == b"\x00payload" and oct(path.stat().st_mode)[-3:] == "600"
        assert t.get_bytes(str(path)) == b"\x00payload"
        with tarfile.open(fileobj=io.BytesIO(t.get_tar(str(folder)))) as tar:
            assert sorted(tar.getnames()) == sorted([HOSTILE, f"{HOSTILE}/-{HOSTILE}.bin"])
        t.put_tar(str(tmp_path / f"{HOSTILE}-2"), t.get_tar(str(folder)))
        assert (tmp_path / f"{HOSTILE}-2" / HOSTILE / f"-{HOSTILE}.bin").read_bytes() == b"\x00payload"
        with pytest.raises(FileNotFoundError):
            t.get_bytes(str(folder / "absent $(touch PWNED4)"))
    finally:
        t.close()
    no_canary(tmp_path)


def test_docker_file_commands_quote_hostile_names(tmp_path, monkeypatch):
    t = DockerTransport("local-docker", "not-a-container")
    t.shells = ShellPool(t.name, lambda: LocalChannel(tmp_path))
    monkeypatch.setattr(t, "_container", FakeContainer)
    try:
        path = tmp_path / HOSTILE / f"-{HOSTILE}.bin"
        t.put_bytes(b"\x00payload", str(path), 0o640)
        assert path.read_bytes() == b"\x00payload"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("inside")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
        t.put_tar(str(tmp_path / f"{HOSTILE}-tar"), buf.getvalue())
        assert (tmp_path / f"{HOSTILE}-tar" / "inside").read_bytes() == b"abc"
    finally:
        t.close()
    no_canary(tmp_path)


# -- the service's environment ---------------------------------------------------------------------
class NoTarget(Transport):
    def __init__(self):
        super().__init__("no-target")
        self.commands = []

    def _run(self, command, timeout):
        self.commands.append(command)
        raise AssertionError(f"nothing may run: {command}")

    put_bytes = get_bytes = get_tar = put_tar = close = None


@pytest.mark.parametrize("key", ["BAD;touch X", "A B", "1X", "X=Y", "-i", "X\n", "$(id)"])
def test_a_hostile_service_env_key_is_refused_before_any_shell_sees_it(key):
    t = NoTarget()
    sup = Supervisor(t, Service(command="sleep 1"), extra_env={key: "v"})
    with pytest.raises(ProductFailure, match=r"service\.env: keys must match"):
        sup.start()
    assert t.commands == []


def test_service_env_values_are_quoted():
    value = "a'b $(touch PWNED) `id` \"c\"\n;d"
    sup = Supervisor(NoTarget(), Service(command="sleep 1", env={"GOOD": value}))
    words = shlex.split(sup._launch_command())
    assert words[words.index("env") + 1] == f"GOOD={value}"
