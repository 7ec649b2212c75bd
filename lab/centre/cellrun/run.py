"""One cell from claim to upload, in order: the board's lock on this host, the claim, the download,
the run with its heartbeat beside it, the upload (or the release), the private folder removed."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from lab.centre.cellrun.claim import claim
from lab.centre.cellrun.client import Service
from lab.centre.cellrun.download import download
from lab.centre.cellrun.execute import execute_cell, write_broken
from lab.centre.cellrun.heartbeat import Heartbeat
from lab.centre.cellrun.host import board_lock, cells_root, collect_orphans
from lab.centre.cellrun.identity import WorkerIdentity
from lab.centre.cellrun.retry import API_RETRY_S, Retry
from lab.centre.cellrun.signals import Signals, Stop
from lab.centre.cellrun.upload import release, tar_results, upload
from lab.errors import InfrastructureError

log = logging.getLogger("lab.centre.cellrun")


def run_one(cell_id: int, ident: WorkerIdentity, target: str | None = None, retries: int = 0) -> str:
    """Run cell ``cell_id`` on this worker; what became of it, in a few words. ``Retry`` when the
    task should come back later; ``target`` (from the queue's name) picks the board lock."""
    settings = ident.settings
    api = Service(settings.service_url, token=ident.token)
    try:
        with Signals() as signals, contextlib.ExitStack() as board:
            try:
                board.enter_context(board_lock(ident, target))
                claimed = claim(api, cell_id, ident.name, retries)
                if isinstance(claimed, str):
                    log.info("cell %s: %s", cell_id, claimed)
                    return claimed
                signals.claimed = True
                return _run_claimed(api, claimed, ident, signals, free_board=board.close)
            except Stop as exc:
                if signals.claimed:
                    raise
                # stopped before the claim: the message goes back to the queue for another worker
                raise Retry(f"not claimed: {exc}", 1.0) from None
            except (Retry, KeyboardInterrupt):
                raise
            except Exception as exc:
                if signals.claimed:  # the attempt runs in the ledger: the sweep takes it over
                    raise
                log.exception("cell %s: failed before its claim", cell_id)
                raise Retry(f"failed before its claim: {type(exc).__name__}: {exc}", API_RETRY_S) from None
    finally:
        api.close()


def _run_claimed(api: Service, claimed: dict, ident: WorkerIdentity, signals: Signals,
                 free_board: Callable[[], None] = lambda: None) -> str:
    cell_id, credential = claimed["cell"], claimed["credential"]
    log.info("cell %s: attempt %s of %s on %s", cell_id, claimed["attempt"], claimed["target"], ident.name)
    collect_orphans()
    pid = os.getpid()
    beat = Heartbeat(str(api.http.base_url), cell_id, credential, float(claimed.get("heartbeat_s") or 15),
                     on_lost=lambda why: os.kill(pid, signal.SIGUSR1))
    work = Path(tempfile.mkdtemp(prefix=f"cell-{cell_id}-p{os.getpid()}-", dir=cells_root(ident.name)))
    beat.start()
    try:
        try:
            archive = download(api, claimed, credential, work, ident.settings.max_upload_bytes)
            out = work / "run"
            out.mkdir()
            complete = execute_cell(claimed, archive, out, ident, signals)
        except InfrastructureError as exc:
            out = work / "run"
            out.mkdir(exist_ok=True)
            write_broken(out, claimed, str(exc))
            complete = True
        except (Stop, KeyboardInterrupt):
            complete = False
        free_board()  # the run is over (and the board reset): the next cell may have it while this uploads
        if not complete:
            if beat.lost:
                return f"stopped: {beat.lost}"
            why = signals.why or "the worker is being stopped"  # execute's own SIGTERM handler took it
            release(api, cell_id, credential, why)
            return f"released: {why}"
        signals.soft = True
        tarball = tar_results(out, work)
        answer = upload(api, cell_id, credential, tarball, signals)
        log.info("cell %s: %s", cell_id, answer)
        if answer.startswith("refused: HTTP 422"):
            release(api, cell_id, credential, f"its results were refused: {answer}")
        return answer
    finally:
        beat.stop()
        beat.join(timeout=15)
        shutil.rmtree(work, ignore_errors=True)
