"""The framing of the persistent shell, over a local ``sh`` (fast; no container needed): exact
bytes, the output cap kept by the controller in bounded memory, timeouts that kill the command's
processes and nothing else; and the commands the transports and the service supervisor build from
hostile names, run for real in that shell."""

from __future__ import annotations

import io
import os
import random
import re
import shlex
import subprocess
import tarfile
import threading
import time
import tracemalloc

import pytest

from lab.errors import CommandTimeout, ConnectionLost, ProductFailure
from lab.service import Supervisor
from lab.submission.model import Service
from lab.transport.base import Transport
from lab.transport.channel import STDERR, STDOUT, Channel, PipeChannel
from lab.transport.docker import DockerTransport
from lab.transport.shell import CappedStream, FramedStream, PersistentShell, ShellPool
from lab.transport.ssh import SshTransport


class LocalChannel(PipeChannel):
    """``sh`` on this machine; a second one kills a timed-out command, as on a target."""

    def __init__(self, cwd=None):
        # With every signal's default disposition, as a target's shell starts: a test session started
        # in the background (under nohup, or `cmd &`) hands on SIGINT and SIGHUP ignored, and a shell
        # cannot undo what was ignored when it started.
        super().__init__(["env", "--default-signal", "sh"], cwd=cwd)


@pytest.fixture
def shell():
    s = PersistentShell(LocalChannel(), "local")
    yield s
    s.close()


def alive(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def test_exit_code_stdout_stderr_are_separate_and_exact(shell):
    r = shell.run("printf 'out\\nno-newline'; printf 'err' >&2; exit 7", 10)
    assert (r.exit_status, r.stdout, r.stderr) == (7, "out\nno-newline", "err")


def test_quoting_heredoc_markers_and_binary(shell):
    tricky = "echo \"$HOME\" '$HOME' `echo x` \\\\ ; cat <<'EOF'\nLAB_END_fake 1 E_0123456789abcdef 0\nEOF"
    r = shell.run(tricky, 10)
    assert r.stdout.splitlines()[1] == "LAB_END_fake 1 E_0123456789abcdef 0"
    assert r.stdout.splitlines()[0].endswith("$HOME x \\")
    r = shell.run("head -c 300000 /dev/urandom | tee /tmp/.lab-bin | wc -c; cat /tmp/.lab-bin >&2", 10)
    assert int(r.stdout) == 300000 and len(r.stderr_bytes) == 300000


def test_a_command_cannot_break_the_frame(shell):
    """Unbalanced parentheses and quotes, an `exit`, a closed stdout: only the command is affected."""
    for command, code in ((") ; echo injected ; (", 2), ("echo 'unterminated", 2), ("exit 9", 9),
                          ("exec >&- 2>&-; echo gone", 1), ("trap 'kill 0' EXIT; sleep 0.1 & echo bg", 143),
                          ("kill -INT 0; kill -HUP 0", 130)):
        r = shell.run(command, 10)
        assert r.exit_status in (code, 2) and "injected" not in r.stdout
    assert shell.run("echo fine; trap; echo $$", 10).stdout == f"fine\n{shell.pid}\n"  # the same shell
    r = shell.run("sh -c 'kill -TERM $$; sleep 5'; echo $?", 10)  # commands get default dispositions
    assert r.stdout == "143\n"


def test_state_does_not_leak_between_commands(shell):
    shell.run("cd /; X=1; export Y=2; set -- a b; umask 077", 10)
    r = shell.run('echo "[$X][$Y][$#][$(umask)]"; read line; echo "stdin=[$line]"', 10)
    assert r.stdout == "[][][0][0022]\nstdin=[]\n"


def test_the_shell_leads_its_own_process_group(shell):
    """So a timeout kills its command's group, never the group of the process that started it."""
    assert shell.pgid == shell.pid != str(os.getpgid(0))


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


def test_a_command_longer_than_one_argv_string_still_runs(shell):
    long = "x=" + "a" * 200_000 + "; echo ${#x}"
    assert shell.run(long, 10).stdout == "200000\n"


def test_a_quiet_command_longer_than_one_read_is_not_a_timeout(shell):
    r = shell.run("sleep 6; echo done", 20)
    assert (r.exit_status, r.stdout) == (0, "done\n")


def test_what_a_daemon_prints_between_commands_is_not_the_next_commands(shell, tmp_path):
    flag = tmp_path / "printed"
    shell.run(f"(sleep 0.2; echo LATE; echo LATE >&2; touch {flag}) &", 10)
    while not flag.exists():
        time.sleep(0.05)
    r = shell.run("echo now", 10)
    assert (r.stdout, r.stderr) == ("now\n", "")


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


def test_one_pool_serves_threads_each_with_its_own_shell():
    pool = ShellPool("local", LocalChannel)
    results = {}

    def work(i):
        results[i] = [pool.run(f"echo {i}-{n}; echo e{i} >&2; sleep 0.1", 10).stdout for n in range(5)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        pool.close()
    assert results == {i: [f"{i}-{n}\n" for n in range(5)] for i in range(3)}


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
