"""What every request of the service needs: the ``Centre`` (settings, database, inventory, the
portal's secret) and who asks (a bearer token, or the portal's session cookie), with the one rule
of visibility: another organisation's submission is 404, exactly like one that does not exist.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, selectinload

from lab.catalogue.db import open_catalogue
from lab.centre import review
from lab.centre.auth import (
    SESSION_COOKIE,
    Principal,
    Unauthenticated,
    check_token,
    principal_of_user,
    read_session,
    session_valid,
)
from lab.centre.intake import Enqueue
from lab.centre.models import Submission, User
from lab.inventory.load import LoadedInventory
from lab.settings import Settings

SPOOL_MAX_AGE_S = 3600


@dataclass
class Centre:
    """What every request needs: the settings, the database, the inventory, the portal's secret."""

    settings: Settings
    engine: Engine
    inventory: LoadedInventory
    secret: bytes
    enqueue: Enqueue | None = None

    @property
    def storage(self) -> Path:
        return Path(self.settings.storage)

    @property
    def spool(self) -> Path:
        """Uploads in flight: beside their final place, so that storing one is a rename."""
        return self.storage / "tmp"


def centre_of(request: Request) -> Centre:
    return request.app.state.centre


def current(request: Request) -> tuple[Principal | None, dict | None]:
    """The signed-in user's principal and session (``{"uid", "csrf", "iat"}``), or (None, None)."""
    centre = centre_of(request)
    data = read_session(centre.secret, request.cookies.get(SESSION_COOKIE))
    if data is None:
        return None, None
    with Session(centre.engine) as s:
        user = s.get(User, data["uid"], options=[selectinload(User.org)])
        return (principal_of_user(user), data) if user is not None and session_valid(user, data) else (None, None)


def open_database(url: str) -> Engine:
    """Migrated to the newest schema, then opened with a pool fit for a threaded server."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    open_catalogue(url).dispose()
    options: dict = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        options |= {"pool_size": 10, "max_overflow": 20}
    return create_engine(url, **options)


def clean_spool(spool: Path) -> None:
    """Uploads a crashed server left behind (an hour old: another process may be receiving)."""
    if not spool.is_dir():
        return
    for entry in spool.iterdir():
        if entry.name.startswith("upload-") and time.time() - entry.stat().st_mtime > SPOOL_MAX_AGE_S:
            shutil.rmtree(entry, ignore_errors=True)


# --- who asks -------------------------------------------------------------------------------------

def unauthorised(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="lab"'})


def bearer(request: Request) -> Principal | None:
    """The principal of the request's bearer token; None without one; 401 for a bad one."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorised("give the token as: Authorization: Bearer TOKEN")
    try:
        with Session(centre_of(request).engine) as s:
            return check_token(s, token)
    except Unauthenticated as exc:
        raise unauthorised(str(exc)) from None


def reader(request: Request) -> Principal | None:
    """For reading: a bearer token (checked first), else the portal's session."""
    return bearer(request) or current(request)[0]


def require_reader(request: Request) -> Principal:
    who = reader(request)
    if who is None:
        raise unauthorised("sign in: Authorization: Bearer TOKEN")
    return who


def visible(request: Request, who: Principal | None, submission_id: str) -> Submission:
    """The submission if ``who`` may read it; else 404, exactly as for one that does not exist."""
    sub = review.load(centre_of(request).engine, submission_id) if len(submission_id) <= 40 else None
    if sub is None or who is None or not who.may_read(sub.org_id):
        raise HTTPException(404, "no such submission")
    return sub
