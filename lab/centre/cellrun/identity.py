"""Who a worker process is, and the shared secret it shows to say hello and to claim."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lab.settings import Settings


def worker_token() -> str | None:
    """``LAB_WORKER_TOKEN`` (environment or ``.env``): when the service has one, a worker must show it
    to say hello and to claim a cell. Every other worker call is bound to one attempt by its credential."""
    return Settings().worker_secret()


@dataclass
class WorkerIdentity:
    """Who this worker process is: set by ``lab worker`` before the pool forks, read by tasks."""

    name: str
    targets: list[str]
    slots: int
    inventory: Path
    settings: Settings
    token: str | None = None  # LAB_WORKER_TOKEN, shown to say hello and to claim
    extra: dict = field(default_factory=dict)
