"""The worker API's results endpoint: a cell's run folder uploaded as a ``.tar.gz``, checked like
any input from outside (``lab.centre.results_in``), recorded in the ledger and swapped into the
submission's storage; a repeated upload (a retry after a lost answer) gets the same answer.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from lab.centre import ledger
from lab.centre.models import Submission
from lab.centre.results_in import Refused, prepare, problem, swap_in
from lab.centre.worker_cells import answer, current_mine
from lab.centre.worker_deps import CredentialDep, InventoryDep, SessionDep, SettingsDep
from lab.inventory.load import LoadedInventory
from lab.settings import Settings

router = APIRouter()


def _already(session: Session, cell_id: int, credential: str) -> dict | None:
    """A repeated upload of results already recorded with this credential: the same answer."""
    mine = ledger.attempt_of(session, cell_id, credential)
    if mine.state in ledger.VERDICTS and mine.results:
        return {"cell": mine.id, "target": mine.target, "verdict": mine.state, "already": True}
    return None


def _record(session: Session, cell_id: int, credential: str, archive: Path, settings: Settings,
            inv: LoadedInventory) -> dict:
    cell = current_mine(session, cell_id, credential)
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
            current_mine(session, cell_id, credential)
        except ledger.LedgerError as exc:
            return answer(exc, cell_id)
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
            return answer(exc, cell_id)
    finally:
        archive.unlink(missing_ok=True)
