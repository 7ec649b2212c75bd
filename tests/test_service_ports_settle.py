"""After SIGKILL, a declared port listed by ``ss`` with no process owning it is a killed process
still ending (a review saw it for a moment on a loaded machine, and the vendor was failed for a
port "held outside the service's tree"): the lab looks again before it says so."""

from __future__ import annotations

from lab import service as service_module
from lab.service import Supervisor
from lab.submission.model import Service
from lab.transport.base import CommandResult, Transport

LISTEN = "LISTEN 0      1024   127.0.0.1:11211 0.0.0.0:*"


class Scripted(Transport):
    """The tree already gone; ``ss -p`` answers from a list, the last answer kept."""

    def __init__(self, ss: list[str]):
        super().__init__("scripted")
        self.ss = ss

    def _run(self, command: str, timeout: float | None = None) -> CommandResult:
        out = ""
        if command.startswith("ss -ltnpH"):
            out = self.ss.pop(0) if len(self.ss) > 1 else self.ss[0]
        return CommandResult(command, 0, out.encode(), b"", 0.001)

    def put_bytes(self, data, path, mode=0o644): raise NotImplementedError
    def get_bytes(self, path): raise NotImplementedError
    def get_tar(self, path): raise NotImplementedError
    def put_tar(self, folder, data): raise NotImplementedError
    def close(self): pass


def _killed(ss: list[str]) -> str:
    sup = Supervisor(Scripted(ss), Service(command="memcached", ports=[11211]), {})
    sup.pid = 4242
    return sup.kill9()


def test_a_port_no_process_owns_that_then_closes_is_no_finding():
    assert _killed([LISTEN, LISTEN, ""]) == ""


def test_a_port_still_listed_with_no_owner_after_the_grace_is_said(monkeypatch):
    monkeypatch.setattr(service_module, "PORT_SETTLE_S", 0.3)
    assert "11211 (held by a process)" in _killed([LISTEN])


def test_a_port_held_by_a_named_process_is_said_at_once(monkeypatch):
    monkeypatch.setattr(service_module, "PORT_SETTLE_S", 30.0)
    said = _killed([LISTEN + ' users:(("memcached",pid=77,fd=26))'])
    assert "11211 (held by pid 77)" in said
