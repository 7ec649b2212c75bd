"""The worker API's cell endpoints: a worker says hello, claims a cell, beats its heart, downloads
the submission and releases the cell; the ledger's refusals answered as HTTP (``answer``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lab.centre import ledger
from lab.centre.models import Cell, Submission, Worker
from lab.centre.sweep import sweep
from lab.centre.worker_deps import (
    CredentialDep,
    EnqueueDep,
    InventoryDep,
    ReadyDep,
    SessionDep,
    SettingsDep,
    require_worker,
)
from lab.errors import InfrastructureError
from lab.settings import Settings

log = logging.getLogger("lab.centre.worker_api")
WORKER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"
TARGET_NAME = r"^[a-z0-9][a-z0-9._-]{0,199}$"
ARCHIVE_NAMES = ("submission.tar.gz", "submission.tgz", "submission.zip")

router = APIRouter()


def answer(exc: ledger.LedgerError, credential_for: int | None = None) -> JSONResponse:
    """A ledger refusal as HTTP: 404, 409 (done, busy, superseded), 410, 403. ``credential_for``: the
    call showed a credential for that cell id; a cell that does not exist answers as one the
    credential is not for, so a stranger cannot count the centre's cells (a hostile review did)."""
    if credential_for is not None and isinstance(exc, ledger.UnknownCell):
        exc = ledger.BadCredential(f"not a credential of cell {credential_for}")
    body: dict = {"detail": str(exc)}
    headers = {}
    if isinstance(exc, ledger.UnknownCell):
        code = 404
    elif isinstance(exc, ledger.AttemptsUsed):
        code = 410
    elif isinstance(exc, ledger.BadCredential):
        code = 403
    elif isinstance(exc, ledger.CellBusy):
        code = 409
        body.update(state="busy", retry_after=round(exc.retry_after, 1))
        headers["Retry-After"] = str(int(exc.retry_after + 0.999))
    elif isinstance(exc, ledger.Superseded):
        code = 409
        body["state"] = "superseded"
    else:  # CellDone
        code = 409
        body["state"] = "done"
    return JSONResponse(body, status_code=code, headers=headers)


# --- hello: the console's list of workers, and the sweep of lost cells ----------------------------


class Hello(BaseModel):
    name: str = Field(pattern=WORKER_NAME)
    targets: list[Annotated[str, Field(pattern=TARGET_NAME)]] = Field(default_factory=list, max_length=1000)
    slots: int = Field(1, ge=1, le=1024)


@router.post("/hello", dependencies=[Depends(require_worker)])
def hello(body: Hello, session: SessionDep, settings: SettingsDep, enqueue: EnqueueDep, ready: ReadyDep) -> dict:
    ledger.register_worker(session, body.name, body.targets, body.slots)
    session.commit()
    swept = sweep(session, settings, enqueue, ready)
    return {"name": body.name, "heartbeat_s": settings.heartbeat_s, "lost_after_s": settings.lost_after_s,
            "swept": swept}


# --- claim, heartbeat, download, release ----------------------------------------------------------


class ClaimBody(BaseModel):
    worker: str = Field(pattern=WORKER_NAME)


def archive_of(settings: Settings, submission_id: str) -> Path | None:
    folder = settings.storage / "submissions" / submission_id
    for name in ARCHIVE_NAMES:
        p = folder / name
        if p.is_file() and not p.is_symlink():
            return p
    return None


@router.post("/cells/{cell_id}/claim", dependencies=[Depends(require_worker)])
def claim(cell_id: int, body: ClaimBody, session: SessionDep, settings: SettingsDep, inv: InventoryDep):
    try:
        target = ledger.current(session, cell_id).target
    except ledger.UnknownCell as exc:
        return answer(exc)
    worker = session.get(Worker, body.worker)
    if worker is None or target not in (worker.targets or []):
        # a cell goes to a worker that said hello serving its target, never to any holder of the
        # secret asking for a number (a hostile review claimed cells of targets it had not declared)
        return JSONResponse({"detail": f"worker {body.worker} does not serve {target} (say hello with it first)"},
                            status_code=403)
    try:
        exclusive = inv.model.get(target).backend == "ssh"  # a board: one cell at a time, anywhere
    except KeyError:
        exclusive = False
    session.rollback()  # a fresh transaction for the claim itself
    try:
        got = ledger.claim(session, cell_id, body.worker, settings, exclusive=exclusive)
    except ledger.AttemptsUsed as exc:
        session.commit()
        return answer(exc)
    except ledger.LedgerError as exc:
        session.rollback()
        return answer(exc)
    cell = got.attempt_cell
    sub = session.get(Submission, cell.submission_id)
    archive = archive_of(settings, sub.id)
    session.commit()
    if archive is None:  # the lab lost the upload: nothing can run it anywhere
        log.error("submission %s has no archive under %s", sub.id, settings.storage)
    return {"cell": cell.id, "attempt": cell.attempt, "target": cell.target, "credential": got.credential,
            "run_id": sub.run_id, "suites": list(sub.suites or []),
            "submission": {"id": sub.id, "product": sub.product, "version": sub.version, "vendor": sub.vendor,
                           "artifacts": list(sub.artifacts or []), "archive_sha256": sub.archive_sha256,
                           "archive_name": archive.name if archive else None},
            "download": f"/api/v1/worker/cells/{cell.id}/submission",
            "heartbeat_s": settings.heartbeat_s, "lost_after_s": settings.lost_after_s}


@router.post("/cells/{cell_id}/heartbeat")
def heartbeat(cell_id: int, credential: CredentialDep, session: SessionDep):
    try:
        cell = ledger.heartbeat(session, cell_id, credential)
    except ledger.LedgerError as exc:
        session.rollback()
        return answer(exc, cell_id)
    session.commit()
    return {"cell": cell.id, "state": cell.state}


def current_mine(session: Session, cell_id: int, credential: str) -> Cell:
    """The running current attempt of this credential (reads only), or a ledger refusal."""
    mine = ledger.attempt_of(session, cell_id, credential)
    cur = ledger.current(session, cell_id)
    if mine.id != cur.id:
        raise ledger.Superseded(f"attempt {mine.attempt} of cell {mine.target} is no longer current")
    if cur.state != "running":
        raise ledger.CellDone(f"cell {cur.target} is {cur.state}")
    return cur


@router.get("/cells/{cell_id}/submission")
def download(cell_id: int, credential: CredentialDep, session: SessionDep, settings: SettingsDep):
    try:
        cell = current_mine(session, cell_id, credential)
    except ledger.LedgerError as exc:
        return answer(exc, cell_id)
    archive = archive_of(settings, cell.submission_id)
    if archive is None:
        raise HTTPException(404, "the submission's archive is not in the service's storage")
    return FileResponse(archive, media_type="application/octet-stream", filename=archive.name)


class ReleaseBody(BaseModel):
    reason: str = Field("stopped", max_length=2000)


@router.post("/cells/{cell_id}/release")
def release(cell_id: int, body: ReleaseBody, credential: CredentialDep, session: SessionDep,
            settings: SettingsDep, enqueue: EnqueueDep):
    try:
        nxt = ledger.release(session, cell_id, credential, body.reason, settings)
        if nxt is not None:
            enqueue(session.get(Cell, cell_id), settings)
    except ledger.LedgerError as exc:
        session.rollback()
        return answer(exc, cell_id)
    except InfrastructureError as exc:
        session.rollback()
        raise HTTPException(503, str(exc)) from None
    session.commit()
    return {"cell": cell_id, "next_attempt": nxt.attempt if nxt is not None else None}
