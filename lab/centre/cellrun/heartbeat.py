"""The running attempt's heartbeat, from a thread beside the run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx

from lab.centre.cellrun.client import Service, bearer, detail

log = logging.getLogger("lab.centre.cellrun")


class Heartbeat(threading.Thread):
    """Says the attempt is alive every ``every`` seconds; when the API answers that the attempt is no
    longer current (taken over, or done), calls ``on_lost`` once. Network errors are only logged:
    the API may be restarting."""

    def __init__(self, api_url: str, cell_id: int, credential: str, every: float, on_lost: Callable[[str], None]):
        super().__init__(name=f"heartbeat-{cell_id}", daemon=True)
        self.url, self.cell_id, self.credential, self.every, self.on_lost = api_url, cell_id, credential, every, on_lost
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.lost = ""

    def run(self) -> None:
        api = Service(self.url, timeout=10)
        try:
            while not self.stopped.wait(self.every):
                try:
                    r = api.post(f"/cells/{self.cell_id}/heartbeat", headers=bearer(self.credential))
                except httpx.TransportError as exc:
                    log.warning("cell %s: heartbeat not delivered: %s", self.cell_id, exc)
                    continue
                if r.status_code in (403, 404, 409, 410):
                    with self.lock:
                        if not self.stopped.is_set():  # never after the run has ended
                            self.lost = detail(r)
                            self.on_lost(self.lost)
                    return
        finally:
            api.close()

    def stop(self) -> None:
        with self.lock:
            self.stopped.set()
