"""A submission as its vendor and the engineers read it, and its publication.

The ledger keeps one ``Cell`` row per target and attempt; a target's current attempt is its
highest. Its public state is ``queued``, ``running`` or ``done`` (with the verdict), and the
submission is ``finished`` once every target is done.

A done cell's results are the folder the ledger stored (``Cell.results``, under LAB_STORAGE; by
default ``submissions/<id>/cells/<target>/``) holding that target's ``verdicts.json``,
``certificates/<target>.json`` and ``allure-results/``. The run's results are their merge, in
``submissions/<id>/run/`` (made again whenever a cell changed): the ``verdicts.json`` of the whole
run (contract section 3), its certificates and its report. Publishing records that folder in the
catalogue (``lab.catalogue.record.record_run``), which is all the buyers' pages read.

A done cell without a results folder (a worker lost for good, a target this lab disables) is in
the merged verdicts with its ledger verdict and reason.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, selectinload

from lab import __version__
from lab.catalogue.record import record_run
from lab.centre.intake import archive_path, submission_dir
from lab.centre.ledger import VERDICTS, cell_view
from lab.centre.models import Cell, Submission
from lab.errors import InfrastructureError, InputError
from lab.results.model import ArtifactRef, SubmissionRef, TargetResult, Verdicts
from lab.results.write import write_atomic

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class NotFinished(InputError):
    """The submission still has targets queued or running (409)."""


def _lock(sub_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(sub_id, threading.Lock())


# --- states ---------------------------------------------------------------------------------------

def latest_cells(cells: Iterable[Cell]) -> list[Cell]:
    """Each target's current attempt, in the order the targets were planned (``ledger.current_cells``
    over cells already loaded)."""
    order: dict[str, int] = {}
    latest: dict[str, Cell] = {}
    for c in sorted(cells, key=lambda c: c.id or 0):
        order.setdefault(c.target, len(order))
        if c.target not in latest or c.attempt > latest[c.target].attempt:
            latest[c.target] = c
    return sorted(latest.values(), key=lambda c: order[c.target])


def is_done(cell: Cell) -> bool:
    return cell.state in VERDICTS


def submission_state(sub: Submission, latest: list[Cell] | None = None) -> str:
    """``queued`` (nothing started), ``running``, or ``finished`` (every target done): from the
    cells, as ``ledger.submission_state`` says it."""
    latest = latest_cells(sub.cells) if latest is None else latest
    if latest and all(is_done(c) for c in latest):
        return "finished"
    return "queued" if all(c.state == "queued" for c in latest) else "running"


def submission_view(sub: Submission) -> dict:
    """``GET /api/v1/submissions/{id}``: the contract's fields, and when it came."""
    latest = latest_cells(sub.cells)
    return {"id": sub.id, "product": sub.product, "version": sub.version, "state": submission_state(sub, latest),
            "published": sub.published, "created": _iso(sub.created), "cells": [cell_view(c) for c in latest]}


def _iso(moment) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def load(engine: Engine, sub_id: str) -> Submission | None:
    """The submission with its cells (detached), or None."""
    with Session(engine, expire_on_commit=False) as s:
        return s.get(Submission, sub_id, options=[selectinload(Submission.cells), selectinload(Submission.org)])


# --- results --------------------------------------------------------------------------------------

def cell_folder(storage: Path, sub: Submission, cell: Cell) -> Path | None:
    """Where a done cell's results are, if they are there (always inside the storage)."""
    base = Path(storage).resolve()
    if cell.results:
        folder = Path(cell.results)
        folder = (folder if folder.is_absolute() else base / folder).resolve()
    else:
        folder = (submission_dir(base, sub.id) / "cells" / cell.target).resolve()
    if not folder.is_relative_to(base) or not (folder / "verdicts.json").is_file():
        return None
    return folder


def _target_result(storage: Path, sub: Submission, cell: Cell) -> tuple[TargetResult, Verdicts | None]:
    folder = cell_folder(storage, sub, cell)
    if folder is not None:
        try:
            v = Verdicts.model_validate_json((folder / "verdicts.json").read_bytes())
        except (OSError, ValidationError):
            v = None
        if v is not None and cell.target in v.targets:
            return v.targets[cell.target], v
    return TargetResult(verdict=cell.state, reason=cell.reason or ""), None


def merged_verdicts(storage: Path, sub: Submission) -> Verdicts | None:
    """The run's ``verdicts.json`` over its done targets so far; None while none is done."""
    done = [c for c in latest_cells(sub.cells) if is_done(c)]
    if not done:
        return None
    targets, runs = {}, []
    for cell in done:
        targets[cell.target], v = _target_result(storage, sub, cell)
        if v is not None:
            runs.append(v)
    started = min((v.started for v in runs if v.started), default=_iso(sub.created))
    finished = max((v.finished for v in runs if v.finished), default=_iso(sub.finished) or _iso(sub.created))
    return Verdicts(run=sub.run_id, harness=next((v.harness for v in runs if v.harness), __version__),
                    started=started, finished=finished, interrupted=any(v.interrupted for v in runs),
                    submission=SubmissionRef(name=sub.product, version=sub.version, vendor=sub.vendor,
                                             artifacts=[ArtifactRef(**a) for a in sub.artifacts]),
                    targets=targets)


def _stamp(sub: Submission) -> str:
    return json.dumps([[c.target, c.attempt, c.state, c.results or ""] for c in latest_cells(sub.cells)])


def run_folder(storage: Path, sub: Submission) -> Path:
    """The merged run folder of a finished submission, made (again) if a cell changed since."""
    if submission_state(sub) != "finished":
        raise NotFinished(sub.id, ["state: not finished: some targets are still queued or running"])
    run = submission_dir(storage, sub.id) / "run"
    stamp = _stamp(sub)
    with _lock(sub.id):
        if (run / ".cells").is_file() and (run / ".cells").read_text() == stamp:
            return run
        fresh = run.with_name(f".run-{secrets.token_hex(4)}")  # another server process may be at it too
        (fresh / "allure-results").mkdir(parents=True)
        verdicts = merged_verdicts(storage, sub)
        for cell in latest_cells(sub.cells):
            folder = cell_folder(storage, sub, cell)
            if folder is None:
                continue
            cert = folder / "certificates" / f"{cell.target}.json"
            if cert.is_file() and verdicts.targets[cell.target].verdict == "passed":
                (fresh / "certificates").mkdir(exist_ok=True)
                shutil.copyfile(cert, fresh / "certificates" / cert.name)
            results = folder / "allure-results"
            if results.is_dir():
                for f in results.iterdir():
                    if f.is_file() and not f.is_symlink():
                        shutil.copyfile(f, fresh / "allure-results" / f.name)
        write_atomic(fresh / "verdicts.json", verdicts.dump())
        (fresh / ".cells").write_text(stamp)
        shutil.rmtree(run, ignore_errors=True)
        try:
            fresh.rename(run)
        except OSError:  # made meanwhile by another process, from the same cells
            shutil.rmtree(fresh, ignore_errors=True)
    return run


def history_of(storage: Path, sub: Submission) -> Path:
    """The folder of the report history that ``sub``'s organisation's products share."""
    return Path(storage) / "history" / f"org-{int(sub.org_id)}"


def report(storage: Path, sub: Submission, lab=None) -> Path | None:
    """The run's HTML report, rendered once the submission is finished; None if it cannot be."""
    run = run_folder(storage, sub)
    page = run / "report" / "index.html"
    if page.is_file():
        return page
    if not any((run / "allure-results").iterdir()):
        return None
    from lab.report.render import render

    with _lock(sub.id):
        if page.is_file():
            return page
        try:
            # Allure's history (each earlier test's name, status, message, trace) per organisation:
            # another vendor's product of the same name never shows its runs in this one's report.
            render(run, history_of(storage, sub), Verdicts.model_validate_json((run / "verdicts.json").read_bytes()),
                   lab=lab)
        except (InfrastructureError, InputError):
            return None
    return page if page.is_file() else None


def certificate(storage: Path, sub: Submission, target: str) -> dict | None:
    """The signed certificate of a target that passed, from its cell's results."""
    cell = next((c for c in latest_cells(sub.cells) if c.target == target), None)
    if cell is None or cell.state != "passed":
        return None
    folder = cell_folder(storage, sub, cell)
    path = folder / "certificates" / f"{target}.json" if folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_bytes())
    except ValueError:
        return None


# --- publishing -----------------------------------------------------------------------------------

def publish(engine: Engine, storage: Path, sub_id: str, by: str, lab=None) -> Submission:
    """Record a finished submission's results in the catalogue: the buyers' pages show them from now
    on. Again after a cell changed: the catalogue's record is replaced. ``NotFinished`` (409),
    ``InputError`` when the catalogue refuses it (another vendor owns the product)."""
    sub = load(engine, sub_id)
    if sub is None:
        raise InputError(sub_id, ["no such submission"])
    run = run_folder(storage, sub)
    report(storage, sub, lab)  # best effort: the verdicts and certificates stand without it
    # the submission's archive is kept in the catalogue's archives, so the lab can run it again
    record_run(engine, run, archive=archive_path(storage, sub_id), archives=Path(storage) / "archives")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = s.get(Submission, sub_id)
        row.published, row.published_by = True, by[:320]
    return load(engine, sub_id)
