"""Boards are not disposable: locked for one run at a time, health-checked before use, their
staging folders removed after, and reset when the inventory says how."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from lab.errors import InfrastructureError, LabError
from lab.facts import gather
from lab.inventory.model import LabSettings, Target

LOCKS = Path(os.environ.get("LAB_LOCK_DIR", "/var/lock/adaptation-lab"))
STAGING = ("/var/tmp/lab-staging", "/var/tmp/lab-service", "/var/tmp/lab-rpm-deps")


@contextlib.contextmanager
def board_lock(name: str, wait_s: float = 30.0) -> Iterator[None]:
    """An flock every lab process on this machine sees; the holder's pid is in the file."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    path = LOCKS / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = path.read_text().strip() or "?"
                    raise InfrastructureError(f"board {name} is in use by another run (pid {holder})") from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def provision_board(target: Target, run_id: str, lab: LabSettings):
    from lab.provision.target import Provisioned
    from lab.transport.ssh import SshTransport

    spec = target.ssh
    with board_lock(target.name):
        transport = SshTransport(target.name, spec, lab.allowed_networks)
        transport.default_timeout = lab.limits.command_timeout
        try:
            if spec.health:
                r = transport.run(spec.health, timeout=60)
                if not r.ok:
                    raise InfrastructureError(f"{target.name} failed its health check, so it is taken out of this "
                                              f"run:\n{r.evidence()}")
            facts = gather(transport, target)
            transport.run(f"rm -rf {' '.join(STAGING)}")
            yield Provisioned(target, transport, facts, None, run_id, lab)
        finally:
            with contextlib.suppress(LabError):
                transport.run(f"rm -rf {' '.join(STAGING)}")
                if spec.reset:
                    transport.run(spec.reset, timeout=300)
            transport.close()
