"""The service's throughput: two workers against one on the same dozen submissions.

    .venv/bin/python bench/service.py [--submissions 12] [--target debian12-x86_64] [--deadline 2400]

Everything is started here and stopped at the end (or at the deadline): a PostgreSQL cluster and a
RabbitMQ node of its own in a temporary folder (loopback, free ports), the API (``lab serve``'s
application under uvicorn) and ``lab worker`` processes, each with its own name and one slot, as
if on two hosts. Three organisations each get a token; their submissions (``examples/acme-calc``,
planned by the intake: the target, all suites) are posted at once through
``POST /api/v1/submissions``, first with one worker, then with two.

Printed: the makespan of each round and their ratio (aim: 1.8x or better where the host has the
cores), the median time from a submission's upload to its cell starting, and the service's
overhead per cell against ``lab run`` of the same cell (the same submission, target and suites,
timed first). Nothing is written under reports/; certificates are signed with a temporary key.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from tests.integration.centre_service import Centre, archive_of, wait_for  # noqa: E402

ORGS = ("Acme Software", "Beta Systems", "Gamma Data")


def lab_run(submission: Path, target: str, tmp: Path) -> tuple[float, float]:
    """``lab run`` of the cell alone: (wall seconds of the command, seconds its target ran)."""
    out = tmp / "lab-run"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(submission), "--targets", target, "--no-report",
                           "--output", str(out), "--catalogue", f"sqlite:///{tmp / 'catalogue.db'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"lab run failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wall, target_time(out)


def claiming(submission: Path, target: str, into: Path) -> Path:
    """A copy of the submission that claims only ``target`` (the intake plans the claims; with none,
    every enabled target, whose cells no worker of this benchmark would serve)."""
    import shutil

    copy = into / submission.name
    shutil.copytree(submission, copy, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = copy / "submission.toml"
    text = manifest.read_text()
    if "[claims]" in text:
        raise SystemExit(f"{manifest}: has its own [claims]; give a submission without them")
    manifest.write_text(text + f'\n[claims]\ntargets = ["{target}"]\n')
    return copy


def tokens(centre: Centre) -> dict[str, str]:
    from lab.centre.auth import create_org, create_token

    found = {}
    with Session(centre.engine) as s:
        for org in ORGS:
            create_org(s, org)
            _, token = create_token(s, org)
            found[org] = token
        s.commit()
    return found


def variants(submission: Path, how_many: int, label: str, into: Path) -> list[Path]:
    """``how_many`` archives of the submission, round-robin over the organisations: each names its
    organisation as vendor (the centre refuses another's) under a product of its own, each with a
    version of its own (an archive already queued is not queued twice)."""
    import re
    import shutil

    out = []
    for i in range(how_many):
        org = ORGS[i % len(ORGS)]
        copy = into / f"{label}-{i}"
        shutil.copytree(submission, copy / submission.name)
        manifest = copy / submission.name / "submission.toml"
        slug = re.sub(r"[^a-z0-9]+", "-", org.lower()).strip("-")
        text = re.sub(r'(?m)^name = ".*"$', f'name = "acme-calc-{slug}"', manifest.read_text(), count=1)
        text = re.sub(r'(?m)^version = ".*"$', f'version = "1.{label}.{i}"', text, count=1)
        manifest.write_text(re.sub(r'(?m)^vendor = ".*"$', f'vendor = "{org}"', text, count=1))
        archive_of(copy / submission.name, into / f"{label}-{i}.tar.gz")
        out.append(into / f"{label}-{i}.tar.gz")
    return out


def post_all(centre: Centre, archives: list[Path], bearer: dict[str, str]) -> dict[str, float]:
    """Post the archives at once (round-robin over the organisations); id -> posted at."""
    posted: dict[str, float] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        org = ORGS[i % len(ORGS)]
        at = time.time()
        with archives[i].open("rb") as fh:
            r = httpx.post(f"{centre.settings.service_url}/api/v1/submissions", timeout=120, trust_env=False,
                           headers={"Authorization": f"Bearer {bearer[org]}"},
                           files={"submission": ("acme-calc.tar.gz", fh, "application/gzip")})
        with lock:
            if r.status_code == 201:
                posted[r.json()["id"]] = at
            else:
                errors.append(f"HTTP {r.status_code}: {r.text[:300]}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(archives))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise SystemExit("uploads refused: " + "; ".join(errors))
    return posted


def cells_of(centre: Centre, ids: list[str]) -> list:
    from lab.centre.models import Cell

    with Session(centre.engine) as s:
        return list(s.scalars(select(Cell).where(Cell.submission_id.in_(ids)).order_by(Cell.id)))


def round_of(centre: Centre, archives: list[Path], workers: int, target: str, bearer: dict[str, str],
             deadline: float) -> dict:
    how_many = len(archives)
    names = [f"bench-{workers}w-{i + 1}" for i in range(workers)]
    for name in names:
        centre.start_worker(name, [target], slots=1)
    try:
        t0 = time.time()
        posted = post_all(centre, archives, bearer)
        ids = list(posted)
        wait_for(f"{how_many} submissions finish with {workers} worker(s)", lambda: centre.finished(*ids),
                 max(10.0, deadline - time.monotonic()), every=1.0, on_timeout=centre.tails)
        cells = cells_of(centre, ids)
    finally:
        for name in names:
            centre.stop_worker(name)
    from lab.centre.ledger import aware

    assert all(c.attempt == 1 for c in cells), "a cell ran more than once"
    verdicts = {c.state for c in cells}
    end = max(aware(c.finished_at).timestamp() for c in cells)
    waits = [aware(c.started_at).timestamp() - posted[c.submission_id] for c in cells]
    spans = [(aware(c.finished_at) - aware(c.started_at)).total_seconds() for c in cells]
    extra = [span - target_time(centre.settings.storage / c.results) for c, span in zip(cells, spans, strict=True)]
    return {"workers": workers, "cells": len(cells), "makespan": end - t0, "verdicts": sorted(verdicts),
            "upload_to_start": statistics.median(waits), "first_start": min(waits),
            "cell_median": statistics.median(spans), "overhead": statistics.median(extra),
            "workers_used": sorted({c.worker for c in cells})}


def target_time(folder: Path) -> float:
    """How long the run's target itself ran (its verdicts' start to end)."""
    v = json.loads((folder / "verdicts.json").read_text())
    return (datetime.fromisoformat(v["finished"]) - datetime.fromisoformat(v["started"])).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--submissions", type=int, default=12)
    ap.add_argument("--target", default="debian12-x86_64")
    ap.add_argument("--submission", type=Path, default=ROOT / "examples" / "acme-calc")
    ap.add_argument("--deadline", type=float, default=2400, help="seconds for the whole benchmark")
    args = ap.parse_args()
    deadline = time.monotonic() + args.deadline

    from lab.centre.engines import Postgres, Rabbit, free_port

    tmp = Path(tempfile.mkdtemp(prefix="lab-bench-service-"))
    tmp.chmod(0o755)  # PostgreSQL runs as its own user and must reach its folder
    os.environ["LAB_SIGNING_KEY"] = str(tmp / "signing-key.pem")  # never the lab's own key
    rabbit_port = free_port()
    while rabbit_port + 10000 > 65535:  # its Erlang distribution listens on port + 10000
        rabbit_port = free_port()
    pg, rabbit = Postgres(tmp / "postgresql", free_port()), Rabbit(tmp / "rabbitmq", rabbit_port)
    centre = None
    try:
        submission = claiming(args.submission, args.target, tmp)
        print(f"lab run {args.submission.name} --targets {args.target} ...", flush=True)
        wall, ran = lab_run(submission, args.target, tmp)
        print(f"  {wall:.1f} s ({ran:.1f} s on the target)", flush=True)
        pg.start()
        rabbit.start()
        centre = Centre(pg, rabbit, tmp / "centre", heartbeat_s=5, lost_after_s=120)
        centre.start_api()
        bearer = tokens(centre)
        rounds = []
        for workers in (1, 2):
            print(f"{args.submissions} submissions from {len(ORGS)} organisations, {workers} worker(s) ...",
                  flush=True)
            archives = variants(submission, args.submissions, str(workers), tmp)
            r = round_of(centre, archives, workers, args.target, bearer, deadline)
            rounds.append(r)
            print(f"  {r['cells']} cells ({', '.join(r['verdicts'])}) in {r['makespan']:.1f} s on "
                  f"{', '.join(r['workers_used'])}", flush=True)
        one, two = rounds
        print()
        print(f"throughput, two workers against one: {one['makespan'] / two['makespan']:.2f}x "
              f"({one['makespan']:.1f} s -> {two['makespan']:.1f} s for {one['cells']} cells; {os.cpu_count()} CPUs)")
        first = min(one["first_start"], two["first_start"])
        print(f"upload to a cell starting, median: {two['upload_to_start']:.2f} s with two workers, "
              f"{one['upload_to_start']:.2f} s with one (the first cell: {first:.2f} s)")
        # Both sides minus the time the target itself ran, so the machine's load on the run cancels out.
        lab_extra = wall - ran
        print(f"per cell, beyond the target's own run: lab run {lab_extra:.2f} s ({wall:.1f} s in all); the service, "
              f"claim to result recorded, {one['overhead']:.2f} s ({one['cell_median']:.1f} s in all): "
              f"overhead {one['overhead'] - lab_extra:+.2f} s per cell against lab run; "
              f"one worker's makespan per cell {one['makespan'] / one['cells']:.1f} s")
    finally:
        if centre is not None:
            centre.close()
        pg.stop()
        rabbit.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
