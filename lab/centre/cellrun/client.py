"""The worker API as a worker sees it: one HTTP client, its credentials, and the API's refusals
in a few words for the log."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from lab.centre.cellrun.identity import WorkerIdentity

CONNECT_TRIES = 4          # quick tries before a claim is put off (the API may be restarting)
BACKOFF_MAX_S = 30


class Service:
    """The API as a worker sees it."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout, connect=5.0),
                                 trust_env=False)
        self.worker = bearer(token) if token else {}  # the workers' shared secret, for hello and claim

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, **kw) -> httpx.Response:
        return self.http.post(f"/api/v1/worker{path}", **kw)

    def hello(self, ident: WorkerIdentity) -> dict:
        r = self.post("/hello", json={"name": ident.name, "targets": ident.targets, "slots": ident.slots},
                      headers=self.worker)
        r.raise_for_status()
        return r.json()


def bearer(credential: str) -> dict:
    return {"Authorization": f"Bearer {credential}"}


def detail(r: httpx.Response) -> str:
    """The API's reason for an answer: its problems, else its detail, bounded for a log line."""
    try:
        body = r.json()
    except ValueError:
        return r.text[:500]
    if isinstance(body, dict) and "problems" in body:
        return "; ".join(f"{p.get('field')}: {p.get('message')}" for p in body["problems"])[:2000]
    return str(body.get("detail", body) if isinstance(body, dict) else body)[:2000]
