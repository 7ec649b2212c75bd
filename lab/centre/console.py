"""The engineers' console: the queue per target (and the targets no live worker serves), the
workers with their last heartbeat, slots and targets, the running cells (stuck ones marked), the
broken cells with a requeue button, and the finished submissions with a publish button.

The ledger (``lab.centre.ledger``) answers every question about cells and does the requeue;
publishing is ``lab.centre.review.publish``.

After a requeue or a publish the console says what was done (``?requeued=CELL``, ``?published=ID``),
in the page's language, from the database: a link cannot make it say anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from lab.centre import ledger, review
from lab.centre.auth import Principal
from lab.centre.context import centre_of, current
from lab.centre.intake import NOT_QUEUED, default_enqueue
from lab.centre.models import Cell, Submission, Worker
from lab.centre.pages import (
    ENGINEERS_ONLY,
    NO_SUCH_CELL,
    NO_SUCH_SUBMISSION,
    NOT_A_CELL,
    age_s,
    check_csrf,
    error_page,
    iso,
    quoted,
    redirect,
    render,
    signed_in,
    small_form,
)
from lab.errors import InfrastructureError, InputError

router = APIRouter(include_in_schema=False)


def _engineer(request: Request) -> tuple[Principal, dict]:
    who, session = signed_in(request)
    if not who.engineer:
        raise HTTPException(403, ENGINEERS_ONLY)
    return who, session


def console_state(centre) -> dict:
    """What the console shows: queues per target (and the targets no live worker serves), workers,
    running cells (stuck: silent past ``lost_after_s``), broken cells, finished submissions to publish."""
    now = datetime.now(UTC)
    settings = centre.settings
    with Session(centre.engine) as s:
        counts = s.execute(select(Cell.target, Cell.state, func.count()).where(Cell.state.in_(ledger.ACTIVE))
                           .group_by(Cell.target, Cell.state)).all()
        live = {w.name for w in ledger.live_workers(s, settings, now)}
        workers = [{"name": w.name, "heartbeat": iso(w.heartbeat), "age": age_s(w.heartbeat, now),
                    "lost": w.name not in live, "slots": w.slots, "targets": list(w.targets or [])}
                   for w in s.scalars(select(Worker).order_by(Worker.name))]
        unserved = ledger.stuck(s, settings, now)
        stale = {c.id for c in ledger.lost(s, settings, now)}
        running = [{"id": c.id, "submission": c.submission_id, "product": c.submission.product,
                    "version": c.submission.version, "target": c.target, "attempt": c.attempt,
                    "worker": c.worker or "", "started": iso(c.started_at), "heartbeat": iso(c.heartbeat),
                    "age": int(ledger.overdue(c, now).total_seconds()), "stuck": c.id in stale}
                   for c in s.scalars(select(Cell).where(Cell.state == "running")
                                      .options(selectinload(Cell.submission)).order_by(Cell.started_at))]
        newest = s.scalars(select(Submission).options(selectinload(Submission.cells), selectinload(Submission.org))
                           .order_by(Submission.created.desc()).limit(300)).all()
        broken, to_publish = [], []
        for sub in newest:
            broken += [{"id": c.id, "submission": sub.id, "product": sub.product, "version": sub.version,
                        "target": c.target, "attempt": c.attempt, "reason": c.reason, "published": sub.published}
                       for c in review.latest_cells(sub.cells) if c.state == "broken"]
            view = review.submission_view(sub)
            if view["state"] == "finished" and not sub.published:
                to_publish.append({**view, "org": sub.org.name})
    per_target: dict[str, dict] = {t.name: {"target": t.name, "enabled": t.enabled, "queued": 0, "running": 0,
                                            "workers": [], "unserved": 0} for t in centre.inventory.model.targets}
    for target, state, n in counts:
        per_target.setdefault(target, {"target": target, "enabled": False, "queued": 0, "running": 0,
                                       "workers": [], "unserved": 0})[state] = n
    for w in workers:
        for t in w["targets"]:
            if t in per_target and not w["lost"]:
                per_target[t]["workers"].append(w["name"])
    for target, cells in unserved.items():
        if target in per_target:
            per_target[target]["unserved"] = len(cells)
    queues = [q for q in per_target.values() if q["enabled"] or q["queued"] or q["running"]]
    return {"now": iso(now), "lost_after": int(settings.lost_after_s), "queues": queues, "workers": workers,
            "running": running, "broken": broken, "to_publish": to_publish}


def notice_of(centre, requeued: str, published: str) -> dict | None:
    """What the console says after a requeue (the new attempt's cell) or a publish (a submission
    that is published): the facts, which the page words in its language; None for anything else."""
    with Session(centre.engine) as s:
        if requeued.isdigit() and len(requeued) < 19:  # a cell id fits 64 bits
            cell = s.get(Cell, int(requeued), options=[selectinload(Cell.submission)])
            if cell is not None:
                return {"did": "requeued", "product": cell.submission.product, "version": cell.submission.version,
                        "target": cell.target, "attempt": cell.attempt}
        if published and len(published) <= 40:
            sub = s.get(Submission, published)
            if sub is not None and sub.published:
                return {"did": "published", "product": sub.product, "version": sub.version}
    return None


@router.get("/console", response_class=HTMLResponse)
def console_page(request: Request, requeued: str = "", published: str = ""):
    who, session = current(request)
    if who is None:
        return redirect(request, "/login?next=/console")
    if not who.engineer:
        raise HTTPException(403, ENGINEERS_ONLY)
    centre = centre_of(request)
    return render(request, "console.html.j2", 200, who, session, notice=notice_of(centre, requeued, published),
                  root="/", **console_state(centre))


def requeue_cell(centre, cell_id: int) -> int:
    """An engineer's requeue of a broken cell (``ledger.requeue``): a new attempt, enqueued in the
    same transaction (by the cell's id, which a claim resolves to its current attempt once the
    transaction is committed), so that a broker that refuses it leaves the cell as it was. The new
    attempt's id."""
    enqueue = centre.enqueue or default_enqueue()
    with Session(centre.engine) as s, s.begin():
        old = s.get(Cell, cell_id)
        if old is None:
            raise InputError(f"cell {cell_id}", [NO_SUCH_CELL])
        new = ledger.requeue(s, cell_id)
        try:
            enqueue(old, centre.settings)
        except Exception as exc:  # whatever the broker said, the requeue is undone and the page says why
            why = exc if isinstance(exc, InfrastructureError) else f"{type(exc).__name__}: {exc}"
            raise InfrastructureError(NOT_QUEUED.say(why=why)) from None
        return new.id


@router.post("/console/requeue")
async def console_requeue(request: Request):
    _, session = _engineer(request)
    form = await small_form(request)
    check_csrf(session, form)
    cell = form.get("cell", "")
    if not cell.isdigit():
        raise HTTPException(422, NOT_A_CELL)
    try:
        new = await run_in_threadpool(requeue_cell, centre_of(request), int(cell))
    except InputError as exc:
        return error_page(request, 409, exc.problems)  # each refusal in the page's language
    return redirect(request, f"/console?requeued={new}")


@router.post("/console/publish")
async def console_publish(request: Request):
    who, session = _engineer(request)
    form = await small_form(request)
    check_csrf(session, form)
    sub_id = form.get("submission", "")
    centre = centre_of(request)
    if review.load(centre.engine, sub_id[:40]) is None:
        raise HTTPException(404, NO_SUCH_SUBMISSION)
    try:
        sub = await run_in_threadpool(review.publish, centre.engine, centre.storage, sub_id, who.name,
                                      centre.inventory.model.lab)
    except InputError as exc:
        return error_page(request, 409, exc.problems)  # each refusal in the page's language
    return redirect(request, f"/console?published={quoted(sub.id)}")
