"""The commands the transports (SSH, Docker) and the service supervisor build from hostile names and
values, run for real in a local shell: files with such names are written and read back, no name is
run as a command, and a hostile service env key is refused before any shell sees it."""

from __future__ import annotations

import io
import os
import shlex
import tarfile

import pytest

from lab.errors import ProductFailure
from lab.service import Supervisor
from lab.submission.model import Service
from lab.transport.base import Transport
from lab.transport.docker import DockerTransport
from lab.transport.pool import ShellPool
from lab.transport.ssh import SshTransport
from tests.local_shell import LocalChannel

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
    after = words[words.index("env") + 1:]
    assert f"GOOD={value}" in after and not any(w.startswith("GOOD=") and w != f"GOOD={value}" for w in after)
