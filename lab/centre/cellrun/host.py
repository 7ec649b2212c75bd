"""This host's side of running cells: the private folders they run in, what killed workers left
behind (folders, containers), and the host's lock of a board."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from lab.centre.cellrun.identity import WorkerIdentity
from lab.errors import LabError

log = logging.getLogger("lab.centre.cellrun")


def cells_root(name: str) -> Path:
    """Where this worker's cells run: private, one folder per worker name."""
    root = Path(tempfile.gettempdir()) / f"lab-cells-{re.sub(r'[^A-Za-z0-9._-]', '-', name)}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def clean_stale(name: str) -> None:
    """At a worker's start: the cell folders that a killed process of this worker left (each is
    named after the process that made it; those of live processes are kept)."""
    root = cells_root(name)
    for p in root.iterdir():
        m = re.match(r"cell-\d+-p(\d+)-", p.name)
        if m and _alive(int(m.group(1))):
            continue
        shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_orphans() -> list[str]:
    """Remove the lab containers whose owner process is gone (a worker killed mid-cell)."""
    try:
        from lab.provision.gc import collect

        return collect()
    except Exception as exc:  # no docker engine here: nothing to collect, say why in the log
        log.warning("could not look for orphaned containers: %s", exc)
        return []


def board_lock(ident: WorkerIdentity, target: str | None):
    """This host's lock of a board target (none for other targets): held from the claim to the end
    of the run, so the harness's own board lock never waits on another cell of this host."""
    if not target:
        return contextlib.nullcontext()
    try:
        from lab.inventory import load_inventory

        t = load_inventory(ident.inventory).model.get(target)
    except (KeyError, LabError):
        return contextlib.nullcontext()
    if t.backend != "ssh":
        return contextlib.nullcontext()
    from lab.provision.board import board_lock as host_board_lock

    wait = load_inventory(ident.inventory).model.lab.limits.worker_timeout + 600
    return host_board_lock(f"{target}.cell", wait_s=wait)
