"""Claiming a cell over HTTP: the credential for this attempt, or why the cell is not ours to run."""

from __future__ import annotations

import logging
import time

import httpx

from lab.centre.cellrun.client import CONNECT_TRIES, Service, detail
from lab.centre.cellrun.retry import API_RETRY_S, Retry

log = logging.getLogger("lab.centre.cellrun")


def claim(api: Service, cell_id: int, worker: str, retries: int) -> dict | str:
    """The claim's answer, or why the cell is not ours to run (a string: the task ends); ``Retry``
    when it should be tried again later."""
    last = None
    for i in range(CONNECT_TRIES):
        try:
            r = api.post(f"/cells/{cell_id}/claim", json={"worker": worker}, headers=api.worker)
        except httpx.TransportError as exc:
            last = exc
            time.sleep(min(2 ** i, 8))
            continue
        if r.status_code == 200:
            return r.json()
        if r.status_code == 409 and r.json().get("state") == "busy":
            raise Retry(detail(r), float(r.json().get("retry_after") or 5))
        if r.status_code == 404 and retries < 3:  # published just before its row was committed?
            raise Retry("cell not found yet", 2.0)
        if r.status_code in (404, 409, 410):
            return f"not run: {detail(r)}"
        if r.status_code >= 500:
            last = RuntimeError(f"HTTP {r.status_code}: {detail(r)}")
            time.sleep(min(2 ** i, 8))
            continue
        # 401 (a wrong LAB_WORKER_TOKEN) or anything unexpected: this worker cannot take the cell,
        # another may; the message goes back rather than being lost
        log.error("cell %s: the API refused the claim: HTTP %s: %s", cell_id, r.status_code, detail(r))
        raise Retry(f"claim refused (HTTP {r.status_code})", API_RETRY_S)
    raise Retry(f"the API is not reachable: {last}", API_RETRY_S)
