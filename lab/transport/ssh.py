"""Boards over SSH (paramiko), behind the same contract as containers.

What stock paramiko gets wrong for a lab, done right here: TCP_NODELAY (48 ms per command without
it), a persistent shell with the same framing as containers, per-command timeouts that really
fire (``recv_exit_status`` ignores them), stdout and stderr never left to fill a window, connect
retries with backoff, keepalive, pinned host keys, and a password only ever read from the
environment. A lost link is ``ConnectionLost``: the lab's fault, never the product's.
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import os
import secrets
import select
import shlex
import socket
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import paramiko

from lab.errors import ConnectionLost, InfrastructureError, InputError
from lab.inventory.model import SshSpec
from lab.transport.base import CommandResult, Transport
from lab.transport.channel import STDERR, STDOUT, Channel, ErrTail
from lab.transport.pool import ShellPool

RETRIES = 3


def check_allowed(host: str, allowed: list[str]) -> None:
    """The lab connects only where its configuration says boards are (loopback by default).

    A name is not even looked up while only loopback is allowed: a DNS query is traffic too.
    """
    nets = [ipaddress.ip_network(n) for n in allowed]
    try:
        addresses = {str(ipaddress.ip_address(host))}
    except ValueError:
        if host == "localhost":
            addresses = {"127.0.0.1"}
        elif all(n.is_loopback for n in nets):
            raise InfrastructureError(f"refusing to look up {host}: [lab].allowed_networks {allowed} allows "
                                      "loopback only; add the boards' network to reach real boards") from None
        else:
            try:
                addresses = {ai[4][0] for ai in socket.getaddrinfo(host, None)}
            except socket.gaierror:
                raise InfrastructureError(f"board host {host!r} does not resolve") from None
    for addr in addresses:
        if not any(ipaddress.ip_address(addr) in n for n in nets):
            raise InfrastructureError(f"refusing to connect to {host} ({addr}): not in [lab].allowed_networks "
                                      f"{allowed}")


def _host_keys(spec: SshSpec) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if spec.known_hosts:
        path = Path(spec.known_hosts).expanduser()
        if path.exists():
            keys.load(str(path))
    if spec.host_key:
        kind, _, blob = spec.host_key.partition(" ")
        key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob.split()[0]))
        keys.add(_known_name(spec), kind, key)
    return keys


def _known_name(spec: SshSpec) -> str:
    return spec.host if spec.port == 22 else f"[{spec.host}]:{spec.port}"


class _PinnedPolicy(paramiko.MissingHostKeyPolicy):
    def __init__(self, spec: SshSpec):
        self.spec = spec

    def missing_host_key(self, client, hostname, key):
        if self.spec.trust_on_first_use:
            if self.spec.known_hosts:
                path = Path(self.spec.known_hosts).expanduser()
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as fh:
                    fh.write(f"{_known_name(self.spec)} {key.get_name()} {key.get_base64()}\n")
            return
        raise InfrastructureError(
            f"unknown host key for {_known_name(self.spec)} ({key.get_name()} {key.get_fingerprint().hex()}): "
            "pin it in the inventory (ssh.host_key or ssh.known_hosts), or allow ssh.trust_on_first_use")


def connect(name: str, spec: SshSpec, allowed: list[str]) -> paramiko.SSHClient:
    check_allowed(spec.host, allowed)
    password = None
    if spec.password_env:
        password = os.environ.get(spec.password_env)
        if password is None:
            raise InputError("targets.toml", [f"targets.{name}.ssh.password_env: ${spec.password_env} is not set"])
    last: Exception | None = None
    for attempt in range(RETRIES):
        client = paramiko.SSHClient()
        known = _host_keys(spec)
        for host, entries in known.items():
            for kind, key in entries.items():
                client.get_host_keys().add(host, kind, key)
        client.set_missing_host_key_policy(_PinnedPolicy(spec))
        try:
            sock = socket.create_connection((spec.host, spec.port), timeout=spec.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.connect(spec.host, spec.port, username=spec.user, password=password,
                           key_filename=str(Path(spec.key_file).expanduser()) if spec.key_file else None,
                           sock=sock, timeout=spec.connect_timeout, banner_timeout=spec.connect_timeout,
                           auth_timeout=spec.connect_timeout, allow_agent=False, look_for_keys=False)
            client.get_transport().set_keepalive(15)
            return client
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise InfrastructureError(
                f"the host key of {name} ({_known_name(spec)}) changed: got {exc.key.get_name()} "
                f"{exc.key.get_fingerprint().hex()}, pinned {exc.expected_key.get_fingerprint().hex()}; refusing "
                "to connect") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise InfrastructureError(f"authentication to {name} as {spec.user} failed: {exc}") from None
        except InfrastructureError:
            client.close()
            raise
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            last = exc
            time.sleep(0.5 * 2**attempt)
    raise InfrastructureError(f"cannot connect to {name} ({spec.host}:{spec.port}) after {RETRIES} tries: {last}")


class SshChannel(Channel):
    """``sh`` (or ``sudo -n sh``) on a session channel: its stdout and stderr are the channel's two
    streams. Both are read as they come, so a command's output never waits on a full window."""

    def __init__(self, client: paramiko.SSHClient, sudo: bool):
        self.client, self.sudo = client, sudo
        self.chan = client.get_transport().open_session()
        self.chan.exec_command("exec " + ("sudo -n " if sudo else "") + "sh")
        self._err = ErrTail()

    def send(self, data: bytes) -> None:
        try:
            self.chan.sendall(data)
        except (OSError, paramiko.SSHException) as exc:
            raise OSError(str(exc)) from None

    def recv_any(self, timeout: float) -> tuple[int, bytes]:
        chan = self.chan
        if not (chan.recv_stderr_ready() or chan.recv_ready() or chan.eof_received or chan.closed):
            ready, _, _ = select.select([chan], [], [], timeout)
            if not ready:
                raise TimeoutError
        if chan.recv_stderr_ready():  # first: a login's last words come before the end of stdout
            data = chan.recv_stderr(65536)
            self._err.add(data)
            return STDERR, data
        if chan.recv_ready() or chan.eof_received or chan.closed:
            return STDOUT, chan.recv(65536)
        raise TimeoutError  # woken without data (the event was stale)

    def sibling(self) -> SshChannel:
        try:
            return SshChannel(self.client, self.sudo)
        except (paramiko.SSHException, EOFError) as exc:
            raise OSError(str(exc) or type(exc).__name__) from None

    def diagnose(self) -> str:
        """The exit code, and what the login left on stderr (``sudo: a password is required``...)."""
        why = ""
        if self.chan.exit_status_ready():
            why = f"the shell exited with {self.chan.recv_exit_status()}"
        with contextlib.suppress(OSError, paramiko.SSHException):
            while self.chan.recv_stderr_ready():
                self._err.add(self.chan.recv_stderr(65536))
        said = self._err.text()
        return f"{why}: {said}" if why and said else why or said

    def shell_ended(self) -> bool:
        """The server said how the shell ended (an exit status, or the signal that killed it): a
        dropped connection says nothing. The word may come just after the end of its output."""
        return self.chan.status_event.wait(1.0)

    def close(self) -> None:
        self.chan.close()


class SshTransport(Transport):
    def __init__(self, name: str, spec: SshSpec, allowed: list[str]):
        super().__init__(name)
        self.spec = spec
        self.client = connect(name, spec, allowed)
        self.sudo = spec.user != "root"
        self.shells = ShellPool(name, self._open_channel)
        self.lost: str | None = None

    def _open_channel(self) -> SshChannel:
        try:
            return SshChannel(self.client, self.sudo)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise ConnectionLost(f"connection to {self.name} lost: {exc or type(exc).__name__}") from None

    def _run(self, command: str, timeout: float) -> CommandResult:
        if self.lost:  # once lost, every later check is broken at once, not after a timeout each
            raise ConnectionLost(self.lost)
        try:
            return self.shells.run(command, timeout, self.output_max_bytes)
        except ConnectionLost as exc:
            self.lost = str(exc)
            raise

    # Files: SFTP as the login user into a private spool, then moved into place by the (root) shell.
    def _sftp(self) -> paramiko.SFTPClient:
        try:
            return self.client.open_sftp()
        except (OSError, paramiko.SSHException) as exc:
            self.lost = f"connection to {self.name} lost: {exc}"
            raise ConnectionLost(self.lost) from None

    def _spool(self) -> str:
        """A new name no vendor can guess, recorded so only this very file counts as the lab's."""
        spool = f"/tmp/.lab-xfer-{secrets.token_hex(6)}"
        self.spools.add(spool)
        return spool

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        spool = self._spool()
        with self._sftp() as sftp:
            sftp.putfo(io.BytesIO(data), spool)
        p, folder = shlex.quote(path), shlex.quote(self.parent(path))
        r = self.run(f"mkdir -p -- {folder} && mv -- {spool} {p} && chmod {mode:o} -- {p} && chown root:root -- {p}")
        if not r.ok:
            raise InfrastructureError(f"{self.name}: cannot write {path}:\n{r.evidence()}")

    def _fetch(self, path: str, make_spool: Callable[[str], str]) -> bytes:
        """Run ``make_spool(spool)`` (a command that writes the spool) as root, then read the spool
        over SFTP."""
        spool = self._spool()
        if not self.run(f"{make_spool(spool)} && chmod 644 {spool}").ok:
            raise FileNotFoundError(f"{self.name}:{path}")
        try:
            with self._sftp() as sftp:
                buf = io.BytesIO()
                sftp.getfo(spool, buf)
                return buf.getvalue()
        finally:
            self.run(f"rm -f {spool}")

    def get_bytes(self, path: str) -> bytes:
        p = shlex.quote(path)
        return self._fetch(path, lambda spool: f"test -f {p} && cp -- {p} {spool}")

    def get_tar(self, path: str) -> bytes:
        folder, name = shlex.quote(self.parent(path)), shlex.quote(PurePosixPath(path).name)
        return self._fetch(path, lambda spool: f"tar -C {folder} -cf {spool} -- {name}")

    def put_tar(self, folder: str, data: bytes) -> None:
        spool = self._spool()
        with self._sftp() as sftp:
            sftp.putfo(io.BytesIO(data), spool)
        f = shlex.quote(folder)
        r = self.run(f"mkdir -p -- {f} && tar -C {f} -xf {spool}; rc=$?; rm -f {spool}; exit $rc")
        if not r.ok:
            raise InfrastructureError(f"{self.name}: cannot unpack into {folder}:\n{r.evidence()}")

    def close(self) -> None:
        self.shells.close()
        with contextlib.suppress(Exception):
            self.client.close()
