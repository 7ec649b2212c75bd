"""The worker-facing API, mounted under ``/api/v1/worker``: what a lab host's worker needs, over
HTTP only (no shared filesystem, no database access).

- ``POST /hello`` ``{"name", "targets", "slots"}``: a worker says it is alive (at start, then every
  ``heartbeat_s``) so the console lists it; the running cells whose heartbeat went quiet are swept;
- ``POST /cells/{id}/claim`` ``{"worker"}``: 200 a fresh per-attempt credential and what to run; 409
  done, or busy (``retry_after``: it runs on a live worker, or its board is busy); 410 the attempts
  are used up (broken for good); 404;
- ``POST /cells/{id}/heartbeat`` (bearer credential): 409 once the attempt is no longer current;
- ``GET /cells/{id}/submission`` (bearer credential): the submission's archive;
- ``POST /cells/{id}/results`` (bearer credential; body: the run folder as a ``.tar.gz``): 200 when
  recorded, also when the same upload is repeated (a retry after a lost answer); 413; 422 problems;
- ``POST /cells/{id}/release`` ``{"reason"}`` (bearer credential): a worker being stopped gives its
  attempt back; the next attempt is queued.

The results are checked like any input from outside: the archive is unpacked by
``lab.submission.unpack`` (regular files and folders only, sizes, member counts and the ratio
bounded by the inventory's ``[lab.limits]``, written without following links, by an unprivileged
child); ``verdicts.json`` must parse as ``lab.results.model.Verdicts``, hold exactly the cell's
target and name the submission's product, version, vendor and artifacts. The worker's run id is
replaced by the submission's, any certificate or report it sent is dropped, and the service signs
the certificate of a passed cell itself (``lab.certs``, key from the inventory's
``[lab] signing_key``): workers never hold the key. Nothing reaches the catalogue before an
engineer publishes the submission.

Results land in ``LAB_STORAGE/submissions/<id>/cells/<target>/`` (``Cell.results`` holds that
path relative to the storage folder).

Who may call: hello and claim need the workers' shared secret (``LAB_WORKER_TOKEN``) as a bearer
token when the service has one (without it they are open: keep the API on loopback); every other
call needs the per-attempt credential the claim handed out (stored only as its sha256).

Dependencies (``get_settings``, ``get_session``, ``get_inventory``, ``get_enqueue``, ``get_ready``,
``get_worker_token``) can be overridden by the app that mounts the router
(``app.dependency_overrides``).
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lab.centre import ledger
from lab.centre.models import Cell, Submission
from lab.centre.results_in import Refused, prepare, problem, swap_in
from lab.centre.sweep import Ready, sweep
from lab.errors import InfrastructureError
from lab.inventory import load_inventory
from lab.inventory.load import LoadedInventory
from lab.settings import Settings

log = logging.getLogger("lab.centre.worker_api")
WORKER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"
TARGET_NAME = r"^[a-z0-9][a-z0-9._-]{0,199}$"
ARCHIVE_NAMES = ("submission.tar.gz", "submission.tgz", "submission.zip")

router = APIRouter(tags=["worker"])


# --- dependencies -------------------------------------------------------------------------------


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


def _answer(exc: ledger.LedgerError) -> JSONResponse:
    """A ledger refusal as HTTP: 404, 409 (done, busy, superseded), 410, 403."""
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


def _archive(settings: Settings, submission_id: str) -> Path | None:
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
        return _answer(exc)
    try:
        exclusive = inv.model.get(target).backend == "ssh"  # a board: one cell at a time, anywhere
    except KeyError:
        exclusive = False
    session.rollback()  # a fresh transaction for the claim itself
    try:
        got = ledger.claim(session, cell_id, body.worker, settings, exclusive=exclusive)
    except ledger.AttemptsUsed as exc:
        session.commit()
        return _answer(exc)
    except ledger.LedgerError as exc:
        session.rollback()
        return _answer(exc)
    cell = got.attempt_cell
    sub = session.get(Submission, cell.submission_id)
    archive = _archive(settings, sub.id)
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
        return _answer(exc)
    session.commit()
    return {"cell": cell.id, "state": cell.state}


def _current_mine(session: Session, cell_id: int, credential: str) -> Cell:
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
        cell = _current_mine(session, cell_id, credential)
    except ledger.LedgerError as exc:
        return _answer(exc)
    archive = _archive(settings, cell.submission_id)
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
        return _answer(exc)
    except InfrastructureError as exc:
        session.rollback()
        raise HTTPException(503, str(exc)) from None
    session.commit()
    return {"cell": cell_id, "next_attempt": nxt.attempt if nxt is not None else None}


# --- results -------------------------------------------------------------------------------------


def _already(session: Session, cell_id: int, credential: str) -> dict | None:
    """A repeated upload of results already recorded with this credential: the same answer."""
    mine = ledger.attempt_of(session, cell_id, credential)
    if mine.state in ledger.VERDICTS and mine.results:
        return {"cell": mine.id, "target": mine.target, "verdict": mine.state, "already": True}
    return None


def _record(session: Session, cell_id: int, credential: str, archive: Path, settings: Settings,
            inv: LoadedInventory) -> dict:
    cell = _current_mine(session, cell_id, credential)
    sub = session.get(Submission, cell.submission_id)
    cells_dir = settings.storage / "submissions" / sub.id / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    incoming = cells_dir / f".incoming-{cell.id}-{secrets.token_hex(6)}"
    target, folder = cell.target, cells_dir / cell.target
    try:
        v = prepare(archive, incoming, cell, sub, inv, session.get_bind())
        result = v.targets[target]
        rel = str(folder.relative_to(settings.storage))
        try:
            done = ledger.finish(session, cell_id, credential, result.verdict.value, result.reason, rel)
        except ledger.LedgerError:
            session.rollback()
            again = _already(session, cell_id, credential)  # the same upload, landed meanwhile
            if again is not None:
                return again
            raise
        swap_in(incoming, folder)
        session.commit()
        return {"cell": done.id, "target": target, "verdict": done.state,
                "certificate": (folder / "certificates" / f"{target}.json").exists()}
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


@router.post("/cells/{cell_id}/results")
async def results(cell_id: int, request: Request, credential: CredentialDep, session: SessionDep,
                  settings: SettingsDep, inv: InventoryDep):
    def first_look() -> dict | JSONResponse | None:
        try:
            again = _already(session, cell_id, credential)
            if again is not None:
                return again
            _current_mine(session, cell_id, credential)
        except ledger.LedgerError as exc:
            return _answer(exc)
        finally:
            session.rollback()  # no transaction held open while the body arrives
        return None

    early = await run_in_threadpool(first_look)
    if early is not None:
        return early
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"results larger than {limit} bytes")
    tmp = settings.storage / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    archive = tmp / f"results-{cell_id}-{secrets.token_hex(6)}.tar.gz"
    try:
        size = 0
        with archive.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"results larger than {limit} bytes")
                fh.write(chunk)
        if size == 0:
            return JSONResponse({"problems": [problem("", "empty upload", "results.tar.gz")]}, status_code=422)
        try:
            return await run_in_threadpool(_record, session, cell_id, credential, archive, settings, inv)
        except Refused as exc:
            return JSONResponse({"problems": exc.problems}, status_code=exc.code)
        except ledger.LedgerError as exc:
            return _answer(exc)
    finally:
        archive.unlink(missing_ok=True)


# --- the router alone, as an application ----------------------------------------------------------


def create_app() -> FastAPI:
    """The worker-facing API on its own (``uvicorn --factory lab.centre.worker_api:create_app``):
    for the tests, or a centre that exposes only this part to its lab hosts' network."""
    app = FastAPI(title="Adaptation Lab: worker API", openapi_url="/api/v1/worker/openapi.json")
    app.include_router(router, prefix="/api/v1/worker")

    @app.get("/api/v1/worker/health")
    def health() -> dict:
        return {"status": "ok"}

    return app
