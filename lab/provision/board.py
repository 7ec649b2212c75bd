"""Boards are not disposable: locked for one run at a time, health-checked before use, and put
back in shape after each run, so one vendor's leftovers never meet the next vendor's product.

After a run a simulated board is recreated from its image; a real board has its staging folders
removed and runs the inventory's ``ssh.reset`` (e.g. a reimage). Until that has worked the board is
*dirty* (a file under ``LAB_BOARD_STATE_DIR``, written before vendor code runs, so a controller
killed mid-run leaves it too): its next use tries the reset again first, and if that fails as well
the board is taken out of the run, *broken*, with both reasons.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lab.errors import CommandTimeout, InfrastructureError, LabError
from lab.facts import gather
from lab.inventory.model import LabSettings, Target
from lab.provision.base import Provisioned

LOCKS = Path(os.environ.get("LAB_LOCK_DIR", "/var/lock/adaptation-lab"))
STATE = Path(os.environ.get("LAB_BOARD_STATE_DIR", "/var/lib/adaptation-lab/boards"))  # survives a reboot
STAGING = ("/var/tmp/lab-staging", "/var/tmp/lab-service", "/var/tmp/lab-rpm-deps")
RESET_TIMEOUT = 300.0


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


def address_key(target: Target) -> str:
    """The board's lock name by its address: ``at-127.0.0.1-2222``."""
    return "at-" + re.sub(r"[^A-Za-z0-9._-]", "_", f"{target.ssh.host}-{target.ssh.port}")


def dirty_marker(target: Target) -> Path:
    """Present while the board may hold what a run left: its text says why. Kept by the board's
    address, as its lock is: another inventory name for the same host:port sees it too."""
    return STATE / f"{address_key(target)}.dirty"


def _mark_dirty(target: Target, why: str) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    dirty_marker(target).write_text(why + "\n")


def reset_board(target: Target, lab: LabSettings) -> None:
    """Put the board back in shape; ``InfrastructureError`` with the reason when that fails."""
    spec = target.ssh
    if spec.simulated_from:
        from lab.provision.simulated import recreate

        recreate(target)
        return
    from lab.transport.ssh import SshTransport

    transport = SshTransport(target.name, spec, lab.allowed_networks)  # a fresh link: the run's may be lost
    try:
        steps = [f"rm -rf {' '.join(STAGING)}"] + ([spec.reset] if spec.reset else [])
        for step in steps:
            try:
                r = transport.run(step, timeout=RESET_TIMEOUT)
            except CommandTimeout:
                raise InfrastructureError(f"the reset of {target.name} did not end within {RESET_TIMEOUT:g} s: "
                                          f"{step}") from None
            if not r.ok:
                raise InfrastructureError(f"the reset of {target.name} failed:\n{r.evidence()}")
    finally:
        transport.close()


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"


def _reset_if_dirty(target: Target, lab: LabSettings) -> None:
    marker = dirty_marker(target)
    if not marker.exists():
        return
    why = marker.read_text().strip() or "its last run did not end with a reset"
    try:
        reset_board(target, lab)
    except Exception as exc:  # whatever it is, the board is not usable
        raise InfrastructureError(f"{target.name} is taken out of this run: {why}; its reset before this run "
                                  f"failed too: {_why(exc)}") from None
    marker.unlink(missing_ok=True)


def _reset_after(target: Target, lab: LabSettings, run_id: str) -> None:
    """After the run (its verdicts are written): the reset's failure only keeps the board dirty."""
    try:
        reset_board(target, lab)
    except Exception as exc:  # after the run: recorded, never raised into the teardown
        _mark_dirty(target, f"{target.name}: the reset after run {run_id} failed: {_why(exc)}")
        sys.stderr.write(f"{target.name}: the reset after this run failed; the board stays out until a reset "
                         f"works: {_why(exc)}\n")
        return
    dirty_marker(target).unlink(missing_ok=True)


def _simulated_twin(board: Target):
    """A simulated board has no route out (its bridge is closed), unlike a real board, which reaches
    its own mirror: its OS packages come from a twin of its image on the fetch bridge, as a
    container's do, and are copied onto the board."""
    from dataclasses import replace

    from lab.engine import client
    from lab.inventory.model import DockerSpec
    from lab.provision.docker import twin_downloader
    from lab.provision.simulated import container_name

    try:
        image = client().containers.get(container_name(board)).image.tags[0]
    except Exception:  # no image to copy (the board is gone): it downloads for itself, and says so
        return None
    spec = board.model_copy(update={"backend": "docker", "docker": DockerSpec(image=image)})
    return lambda p: twin_downloader(replace(p, target=spec, twin=None))


@contextlib.contextmanager
def provision_board(target: Target, run_id: str, lab: LabSettings):
    from lab.transport.ssh import SshTransport

    spec = target.ssh
    # By name (what the tests and engineers hold) and by address: two inventory names for one board
    # (a copy's, say) must not run on it at once.
    with board_lock(target.name), board_lock(address_key(target)):
        _reset_if_dirty(target, lab)
        transport = SshTransport(target.name, spec, lab.allowed_networks)
        transport.default_timeout = lab.limits.command_timeout
        transport.output_max_bytes = lab.limits.output_max_bytes
        used = False
        try:
            if spec.health:
                r = transport.run(spec.health, timeout=60)
                if not r.ok:
                    raise InfrastructureError(f"{target.name} failed its health check, so it is taken out of this "
                                              f"run:\n{r.evidence()}")
            facts = gather(transport, target)
            transport.run(f"rm -rf {' '.join(STAGING)}")
            _mark_dirty(target, f"run {run_id} used it as {target.name}")  # before any vendor code runs
            used = True
            yield Provisioned(target, transport, facts, None, run_id, lab,
                              twin=_simulated_twin(target) if target.ssh.simulated_from else None)
        finally:
            transport.close()
            if used:
                _reset_after(target, lab, run_id)
