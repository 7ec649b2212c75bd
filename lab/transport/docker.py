"""Containers, reached through ``docker exec`` for commands and the archive API for files."""

from __future__ import annotations

import io
import os
import selectors
import shlex
import subprocess
import tarfile
import tempfile
import time
from pathlib import PurePosixPath

from docker.errors import APIError, NotFound

from lab.engine import client
from lab.errors import ConnectionLost, InfrastructureError
from lab.transport.base import CommandResult, Transport
from lab.transport.channel import STDOUT, Channel, PipeChannel, end_client
from lab.transport.pool import ShellPool


class ExecChannel(Channel):
    """``docker exec -i CONTAINER ARGV``: a long-lived program in the container spoken to over the
    client's stdin and stdout (the vendor-test runner); its stderr is kept for ``diagnose``."""

    def __init__(self, container: str, user: str = "root", argv: tuple[str, ...] = ("sh",),
                 env: dict[str, str] | None = None):
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the channel
        # `-e NAME` without a value: docker takes it from its own environment, so values (passwords)
        # never appear on a command line.
        names = [a for k in (env or {}) for a in ("-e", k)]
        self.proc = subprocess.Popen(
            ["docker", "exec", "-i", "-u", user, *names, container, *argv], env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0,
        )
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def recv(self, timeout: float) -> bytes:
        if not self._sel.select(timeout):
            raise TimeoutError
        return os.read(self.proc.stdout.fileno(), 65536)

    def recv_any(self, timeout: float) -> tuple[int, bytes]:
        return STDOUT, self.recv(timeout)

    def diagnose(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-500:]

    def close(self) -> None:
        end_client(self.proc, self._sel)
        self._stderr.close()


class DockerTransport(Transport):
    """Commands go through a small pool of persistent shells: one per concurrent caller."""

    def __init__(self, name: str, container_id: str):
        super().__init__(name)
        self.container_id = container_id
        # `docker exec -i CONTAINER sh`: one long-lived shell whose stdout and stderr carry the frames.
        self.shells = ShellPool(name, lambda: PipeChannel(["docker", "exec", "-i", "-u", "root", container_id, "sh"]))

    def _run(self, command: str, timeout: float) -> CommandResult:
        try:
            return self.shells.run(command, timeout, self.output_max_bytes)
        except ConnectionLost as exc:
            raise ConnectionLost(f"{exc}{self._state()}") from None

    def _state(self) -> str:
        try:
            state = client().containers.get(self.container_id).attrs["State"]
        except NotFound:
            return " (container is gone)"
        if state.get("OOMKilled"):
            return " (container was OOM-killed)"
        return "" if state.get("Running") else f" (container {state.get('Status')})"

    def _container(self):
        try:
            return client().containers.get(self.container_id)
        except NotFound:
            raise ConnectionLost(f"connection to {self.name} lost (container is gone)") from None

    def _mkdir(self, folder: str) -> None:
        r = self.run(f"mkdir -p -- {shlex.quote(folder)}")
        if not r.ok:
            raise InfrastructureError(f"{self.name}: cannot create {folder}:\n{r.evidence()}")

    def put_bytes(self, data: bytes, path: str, mode: int = 0o644) -> None:
        p = PurePosixPath(path)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(p.name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self._mkdir(str(p.parent))
        try:
            self._container().put_archive(str(p.parent), buf.getvalue())
        except APIError as exc:
            raise InfrastructureError(f"{self.name}: cannot write {path}: {exc.explanation}") from None

    def _archive(self, path: str) -> bytes:
        try:
            stream, _ = self._container().get_archive(path)
        except NotFound:
            raise FileNotFoundError(f"{self.name}:{path}") from None
        return b"".join(stream)

    def get_bytes(self, path: str) -> bytes:
        buf = io.BytesIO(self._archive(path))
        with tarfile.open(fileobj=buf) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise IsADirectoryError(f"{self.name}:{path} is not a regular file")
            return tar.extractfile(member).read()

    def put_tar(self, folder: str, data: bytes) -> None:
        self._mkdir(folder)
        try:
            self._container().put_archive(folder, data)
        except APIError as exc:
            raise InfrastructureError(f"{self.name}: cannot unpack into {folder}: {exc.explanation}") from None

    def get_tar(self, path: str) -> bytes:
        return self._archive(path)

    def close(self) -> None:
        self.shells.close()
