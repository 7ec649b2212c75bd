"""Giving the attempt back to the service: its results as a ``.tar.gz`` (retried with backoff while
the API is unreachable or restarting; a repeated upload is answered as the first), or, when it
did not run to its end, the attempt itself (``release``) so that it is queued again."""

from __future__ import annotations

import logging
import tarfile
import time
from pathlib import Path

import httpx

from lab.centre.cellrun.client import BACKOFF_MAX_S, Service, bearer, detail
from lab.centre.cellrun.signals import Signals

log = logging.getLogger("lab.centre.cellrun")

UPLOAD_WINDOW_S = 900      # how long an upload is retried before the attempt is left to the sweep


def tar_results(folder: Path, into: Path) -> Path:
    path = into / "results.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=child.name, recursive=True,
                    filter=lambda m: m if (m.isfile() or m.isdir()) else None)
    return path


def upload(api: Service, cell_id: int, credential: str, tarball: Path, signals: Signals) -> str:
    """Upload until it lands (or the window closes); the API's answer or why not."""
    deadline = time.monotonic() + UPLOAD_WINDOW_S
    delay = 1.0
    while True:
        try:
            with tarball.open("rb") as fh:
                r = api.post(f"/cells/{cell_id}/results", content=fh,
                             headers={**bearer(credential), "Content-Type": "application/gzip"})
            if r.status_code == 200:
                return f"uploaded: {r.json().get('verdict')}"
            if r.status_code < 500 and r.status_code not in (408, 429):
                return f"refused: HTTP {r.status_code}: {detail(r)}"
            why = f"HTTP {r.status_code}"
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + delay > deadline or signals.why:
            return f"not uploaded: {why}"
        log.warning("cell %s: upload failed (%s); again in %.0f s", cell_id, why, delay)
        time.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


def release(api: Service, cell_id: int, credential: str, why: str) -> None:
    try:
        r = api.post(f"/cells/{cell_id}/release", json={"reason": why[:2000]}, headers=bearer(credential))
        if r.status_code != 200:
            log.warning("cell %s: release answered HTTP %s: %s", cell_id, r.status_code, detail(r))
    except httpx.TransportError as exc:  # the sweep takes it over once its heartbeat is stale
        log.warning("cell %s: release not delivered: %s", cell_id, exc)
