"""Whose fault is an install step killed by a signal: the kernel's OOM killer in the target's
cgroup before dpkg began is the lab's (its limits leave apt no room); any other kill is the
product's (a review: an earlier release's apt hook SIGKILLed apt and the lab was blamed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lab.deploy.base import OOM_KILLS, run_step
from lab.deploy.deb import _before_dpkg
from lab.errors import InfrastructureError, ProductFailure
from lab.transport.base import CommandResult


class Target:
    """A container target whose OOM count goes from ``before`` to ``after`` across the step."""

    def __init__(self, before: int, after: int, step_out: bytes):
        self.oom = [before, after]
        self.step_out = step_out

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        if command == OOM_KILLS:
            return CommandResult(command, 0, str(self.oom.pop(0)).encode(), b"", 0.0)
        return CommandResult(command, 137, self.step_out, b"", 0.1)


def step(transport, handle=object()):
    p = SimpleNamespace(transport=transport, handle=handle,
                        target=SimpleNamespace(docker=SimpleNamespace(limits=SimpleNamespace(memory="24m", pids=16))))
    return run_step(p, "apt-get install ./x.deb", 60, "installing x.deb", before_product=_before_dpkg)


def test_the_oom_killer_before_dpkg_is_the_labs():
    with pytest.raises(InfrastructureError) as said:
        step(Target(0, 1, b"Reading package lists...Killed\n"))
    assert "killed for lack of memory before anything of the product ran" in str(said.value)


@pytest.mark.parametrize(("before", "after", "out"), [
    (0, 0, b"Reading package lists...\n"),                                   # an apt hook's kill -9: no OOM
    (1, 2, b"Preparing to unpack .../x.deb ...\nUnpacking x (1.0) ...\n"),   # OOM, but in dpkg: the product's scripts
])
def test_any_other_kill_is_the_products(before, after, out):
    with pytest.raises(ProductFailure) as said:
        step(Target(before, after, out))
    assert "killed by signal 9; the target's limits: memory 24m, pids 16" in str(said.value)


class Says:
    """A container target whose step exits 1 saying ``out``; its OOM count never moves."""

    def __init__(self, out: bytes):
        self.out = out

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        if command == OOM_KILLS:
            return CommandResult(command, 0, b"0", b"", 0.0)
        return CommandResult(command, 100, self.out, b"", 0.1)


def test_the_mirror_failing_is_the_labs_only_while_apt_alone_ran():
    """A review's postinst printed curl's "Could not resolve host" and exited 1: the lab blamed its
    mirror. Once dpkg began, what the step prints is the product's."""
    with pytest.raises(InfrastructureError, match="the lab's package mirror failed"):
        step(Says(b"Err:1 http://deb.debian.org/debian bookworm/main bc\n  Could not resolve 'deb.debian.org'\n"
                  b"E: Failed to fetch http://deb.debian.org/debian/pool/main/b/bc/bc_1.07.1-3_amd64.deb\n"))
    with pytest.raises(ProductFailure, match=r"installing x\.deb failed"):
        step(Says(b"Preparing to unpack .../x.deb ...\nUnpacking x (1.0) ...\nSetting up x (1.0) ...\n"
                  b"curl: (6) Could not resolve host: activate.acme.example\n"))
