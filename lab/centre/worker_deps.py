"""What each endpoint of the worker API is given, as FastAPI dependencies: the settings, a database
session, the inventory, how a cell is queued again and how full the queues are, and who may call
(the workers' shared secret, a cell's credential).

Each is a function so that the app mounting the router (``lab.centre.api``) or a test can put its
own in place (``app.dependency_overrides[get_settings] = ...``).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lab.centre.models import Cell
from lab.centre.sweep import Ready
from lab.inventory import load_inventory
from lab.inventory.load import LoadedInventory
from lab.settings import Settings


@functools.cache
def _settings() -> Settings:
    return Settings()


def get_settings() -> Settings:
    return _settings()


@functools.cache
def engine_for(url: str) -> Engine:
    from lab.catalogue.db import open_catalogue

    return open_catalogue(url)


def get_session(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Session]:
    with Session(engine_for(settings.database_url)) as session:
        yield session


@functools.cache
def _inventory(path: str) -> LoadedInventory:
    return load_inventory(Path(path))


def get_inventory(settings: Annotated[Settings, Depends(get_settings)]) -> LoadedInventory:
    return _inventory(str(settings.inventory))


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
InventoryDep = Annotated[LoadedInventory, Depends(get_inventory)]


def credential_of(request: Request) -> str:
    """The bearer credential of a worker's request; 401 without one."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "a cell's credential is needed: Authorization: Bearer CREDENTIAL",
                            headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


CredentialDep = Annotated[str, Depends(credential_of)]


def get_worker_token() -> str | None:
    """The workers' shared secret (``LAB_WORKER_TOKEN``); None: hello and claim are open (loopback)."""
    from lab.centre.cellrun import worker_token

    return worker_token()


def require_worker(request: Request, token: Annotated[str | None, Depends(get_worker_token)]) -> None:
    """Hello and claim: only a worker of this centre, when the service has a worker token."""
    if token is None:
        return
    shown = credential_of(request)
    if not hmac.compare_digest(shown.encode(), token.encode()):
        raise HTTPException(401, "not a worker of this centre (LAB_WORKER_TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})


def get_enqueue() -> Callable[[Cell, Settings], None]:
    """How a cell is queued again (after a lost worker or a release): ``lab.centre.tasks.enqueue``."""
    from lab.centre.tasks import enqueue

    return enqueue


EnqueueDep = Annotated[Callable[[Cell, Settings], None], Depends(get_enqueue)]


def get_ready() -> Ready:
    """How many messages wait in each target's queue: ``lab.centre.tasks.ready_messages``."""
    from lab.centre.tasks import ready_messages

    return ready_messages


ReadyDep = Annotated[Ready, Depends(get_ready)]
