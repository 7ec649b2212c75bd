"""The centre's web service: the JSON API under ``/api/v1`` (CONTRACT section 5) and the portal.

``create_app(settings)`` builds it (``lab serve`` runs ``uvicorn lab.centre.api:create_app
--factory``; with no argument it reads ``lab.settings.settings()``); ``app`` is the same, made on
first use. The database is migrated first; uploads and evidence live in LAB_STORAGE.

Who asks: ``Authorization: Bearer TOKEN`` (``lab_<id>_<secret>``), or for reading, the portal's
session cookie. Another organisation's submission is 404 on every path, exactly like one that
does not exist. Errors: 401 ``{"detail"}`` (with ``WWW-Authenticate``), 404/409/403 ``{"detail"}``,
422 ``{"problems": [{"file", "field", "message"}]}``, 413 ``{"detail"}``, 503 ``{"detail"}`` when the
database or the broker is away.

The ledger's worker endpoints (``lab.centre.worker_api.router``) are mounted under
``/api/v1/worker`` when that module exists, their dependencies (settings, session, inventory)
overridden with this app's; ``request.app.state`` also holds ``centre``, ``settings``, ``engine``
and ``inventory``.

Example::

    curl -H "Authorization: Bearer $TOKEN" -F submission=@acme-calc.tar.gz http://127.0.0.1:8400/api/v1/submissions
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from lab import __version__
from lab.centre import answers, buyers, pages, portal, review
from lab.centre.answers import API
from lab.centre.auth import portal_secret
from lab.centre.context import (
    Centre,
    bearer,
    centre_of,
    clean_spool,
    open_database,
    reader,
    require_reader,
    unauthorised,
    visible,
)
from lab.centre.intake import Enqueue, accept_submission
from lab.centre.models import Submission
from lab.centre.upload import drain, receive_upload
from lab.errors import InputError
from lab.inventory import load_inventory
from lab.settings import Settings
from lab.settings import settings as read_settings

BROKER_CHECK_S = 3.0


# --- the API's documents --------------------------------------------------------------------------

class ProblemOut(BaseModel):
    file: str
    field: str
    message: str


class ProblemsOut(BaseModel):
    problems: list[ProblemOut]


class DetailOut(BaseModel):
    detail: str


class CreatedOut(BaseModel):
    id: str
    state: str
    url: str


class CellOut(BaseModel):
    target: str
    state: str
    verdict: str | None
    reason: str
    attempts: int


class SubmissionOut(BaseModel):
    id: str
    product: str
    version: str
    state: str
    published: bool
    created: str = ""
    cells: list[CellOut]


class SubmissionItem(BaseModel):
    id: str
    product: str
    version: str
    state: str
    published: bool
    created: str
    url: str


class HealthOut(BaseModel):
    status: str
    database: str
    broker: str
    version: str = __version__


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["submission"],
    "properties": {"submission": {"type": "string", "format": "binary",
                                  "description": "the submission folder as a .tar.gz or .zip"}}}}}}}
ERRORS = {401: {"model": DetailOut}, 404: {"model": DetailOut}}

router = APIRouter(prefix=API)


@router.post("/submissions", status_code=201, response_model=CreatedOut, openapi_extra=UPLOAD_BODY,
             responses={**ERRORS, 413: {"model": DetailOut}, 422: {"model": ProblemsOut},
                        503: {"model": DetailOut}}, summary="Upload a submission")
async def post_submission(request: Request):
    """Validated like ``lab validate``; stored and queued on its claimed targets. Nothing is kept
    from a refused upload."""
    try:
        who = await run_in_threadpool(bearer, request)
        if who is None:
            raise unauthorised("an upload needs a vendor's token: Authorization: Bearer TOKEN")
        if who.org_id is None:
            raise HTTPException(403, "an engineer's token uploads for no organisation: use a vendor's token")
    except HTTPException:
        await drain(request)
        raise
    centre = centre_of(request)
    upload = await receive_upload(request, centre.settings.max_upload_bytes, centre.spool)
    try:
        sub = await run_in_threadpool(accept_submission, centre.engine, centre.settings, centre.inventory,
                                      who.org_id, upload, centre.enqueue)
    finally:
        upload.discard()
    url = str(request.url_for("get_submission", submission_id=sub.id))
    return JSONResponse({"id": sub.id, "state": review.submission_state(sub), "url": url}, status_code=201,
                        headers={"Location": url})


@router.get("/submissions", response_model=list[SubmissionItem], responses=ERRORS,
            summary="The caller's submissions, newest first")
def list_submissions(request: Request):
    who = require_reader(request)
    query = select(Submission).options(selectinload(Submission.cells)).order_by(
        Submission.created.desc(), Submission.id.desc())
    if not who.engineer:
        query = query.where(Submission.org_id == who.org_id)
    with Session(centre_of(request).engine) as s:
        rows = s.scalars(query).all()
        return [{**{k: v for k, v in review.submission_view(r).items() if k != "cells"},
                 "url": str(request.url_for("get_submission", submission_id=r.id))} for r in rows]


@router.get("/submissions/{submission_id}", response_model=SubmissionOut, responses=ERRORS,
            summary="A submission and each target's progress")
def get_submission(request: Request, submission_id: str):
    return review.submission_view(visible(request, require_reader(request), submission_id))


@router.get("/submissions/{submission_id}/verdicts", responses=ERRORS,
            summary="The run's verdicts.json (over the targets done so far)")
def get_verdicts(request: Request, submission_id: str):
    sub = visible(request, require_reader(request), submission_id)
    verdicts = review.merged_verdicts(centre_of(request).storage, sub)
    if verdicts is None:
        raise HTTPException(409, "no verdicts yet: no target has finished")
    return Response(verdicts.dump(), media_type="application/json")


@router.get("/submissions/{submission_id}/report", response_class=HTMLResponse, responses=ERRORS,
            summary="The run's HTML report")
def get_report(request: Request, submission_id: str):
    sub = visible(request, require_reader(request), submission_id)
    try:
        page = review.report(centre_of(request).storage, sub, centre_of(request).inventory.model.lab)
    except review.NotFinished:
        raise HTTPException(409, "no report yet: it is made once every target has finished") from None
    if page is None:
        raise HTTPException(404, "this run has no report (it could not be rendered)")
    return FileResponse(page, media_type="text/html", headers=pages.REPORT_HEADERS)


@router.get("/submissions/{submission_id}/certificates/{target}", responses=ERRORS,
            summary="A target's signed certificate (anyone's to read once published)")
def get_certificate(request: Request, submission_id: str, target: str):
    who = reader(request)
    sub = review.load(centre_of(request).engine, submission_id) if len(submission_id) <= 40 else None
    if sub is None or not (sub.published or (who is not None and who.may_read(sub.org_id))):
        raise HTTPException(404, "no such submission")
    doc = review.certificate(centre_of(request).storage, sub, target)
    if doc is None:
        raise HTTPException(404, f"no certificate for {target[:200]}: only a target that passed has one")
    return JSONResponse(doc)


@router.post("/submissions/{submission_id}/publish", response_model=SubmissionOut,
             responses={**ERRORS, 403: {"model": DetailOut}, 409: {"model": DetailOut}},
             summary="Publish a finished submission into the buyers' catalogue (engineers)")
def post_publish(request: Request, submission_id: str):
    who = bearer(request)
    if who is None:
        raise unauthorised("publishing needs an engineer's token: Authorization: Bearer TOKEN")
    sub = visible(request, who, submission_id)
    if not who.engineer:
        raise HTTPException(403, "only a lab engineer publishes")
    return review.submission_view(publish(centre_of(request), sub.id, who.name))


def publish(centre: Centre, submission_id: str, by: str) -> Submission:
    """``review.publish`` with its refusals as answers: 409 unfinished or refused by the catalogue."""
    try:
        return review.publish(centre.engine, centre.storage, submission_id, by, centre.inventory.model.lab)
    except InputError as exc:
        raise HTTPException(409, "; ".join(exc.problems)) from None


@router.get("/catalogue/matrix.json", summary="The published matrix, as `lab catalogue publish` writes it")
def get_matrix(request: Request):
    return JSONResponse(buyers.matrix_document(centre_of(request)))


_broker_seen: dict[str, tuple[float, str]] = {}


def broker_state(url: str) -> str:
    """``ok``, or why the broker cannot be reached (remembered for a few seconds)."""
    seen = _broker_seen.get(url)
    if seen and time.monotonic() - seen[0] < BROKER_CHECK_S:
        return seen[1]
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=3)
        state = "ok"
    except Exception as exc:  # any failure to reach it is the answer, not an error of ours
        state = f"unreachable: {type(exc).__name__}"
    _broker_seen[url] = (time.monotonic(), state)
    return state


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}},
            summary="The service, its database and its broker")
def get_health(request: Request):
    centre = centre_of(request)
    try:
        with centre.engine.connect() as conn:
            conn.execute(text("select 1"))
        database = "ok"
    except Exception as exc:  # the database's absence is what this answers
        database = f"unreachable: {type(exc).__name__}"
    broker = broker_state(centre.settings.broker_url)
    status = "ok" if database == broker == "ok" else "degraded"
    body = {"status": status, "database": database, "broker": broker, "version": __version__}
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


# --- the app --------------------------------------------------------------------------------------

def create_app(settings: Settings | None = None, *, enqueue: Enqueue | None = None) -> FastAPI:
    """The service for ``settings`` (default: the environment and ``.env``). ``enqueue`` replaces
    ``lab.centre.tasks.enqueue`` (tests that run no broker)."""
    settings = settings or read_settings()
    storage = Path(settings.storage)
    storage.mkdir(parents=True, exist_ok=True, mode=0o750)
    centre = Centre(settings=settings, engine=open_database(settings.database_url),
                    inventory=load_inventory(settings.inventory), secret=portal_secret(storage), enqueue=enqueue)
    clean_spool(centre.spool)
    app = FastAPI(title="Adaptation Lab centre", version=__version__, openapi_url=f"{API}/openapi.json",
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  description="Vendors submit, engineers publish, buyers read the published catalogue.")
    app.state.centre = centre
    app.state.settings, app.state.engine, app.state.inventory = settings, centre.engine, centre.inventory
    app.include_router(router)
    _mount_worker_api(app, centre)
    app.include_router(portal.router)
    answers.install(app)
    return app


def _mount_worker_api(app: FastAPI, centre: Centre) -> None:
    """The ledger's worker endpoints under ``/api/v1/worker``, on this app's settings and database."""
    if importlib.util.find_spec("lab.centre.worker_api") is None:
        return
    from lab.centre import worker_api

    def session():
        with Session(centre.engine) as s:
            yield s

    app.include_router(worker_api.router, prefix=f"{API}/worker")
    app.dependency_overrides[worker_api.get_settings] = lambda: centre.settings
    app.dependency_overrides[worker_api.get_session] = session
    app.dependency_overrides[worker_api.get_inventory] = lambda: centre.inventory


def __getattr__(name: str):
    """``lab.centre.api:app``: the service for the environment's settings, made on first use."""
    if name == "app":
        globals()["app"] = made = create_app()
        return made
    raise AttributeError(name)
