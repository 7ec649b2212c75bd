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

from fastapi import APIRouter, FastAPI

from lab.centre import worker_cells, worker_results
from lab.centre.worker_cells import answer  # noqa: F401 (the ledger's refusals as HTTP)
from lab.centre.worker_deps import (  # noqa: F401 (what the mounting app and the tests override)
    engine_for,
    get_enqueue,
    get_inventory,
    get_ready,
    get_session,
    get_settings,
    get_worker_token,
)

router = APIRouter(tags=["worker"])
router.include_router(worker_cells.router)
router.include_router(worker_results.router)


def create_app() -> FastAPI:
    """The worker-facing API on its own (``uvicorn --factory lab.centre.worker_api:create_app``):
    for the tests, or a centre that exposes only this part to its lab hosts' network."""
    app = FastAPI(title="Adaptation Lab: worker API", openapi_url="/api/v1/worker/openapi.json")
    app.include_router(router, prefix="/api/v1/worker")

    @app.get("/api/v1/worker/health")
    def health() -> dict:
        return {"status": "ok"}

    return app
