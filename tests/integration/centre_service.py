"""A whole centre on this machine for the service's tests and benchmark: a database of its own in
the given PostgreSQL, a vhost of its own in the given RabbitMQ, a storage folder, the API (uvicorn,
a subprocess on a free loopback port) and workers (``lab worker`` subprocesses, each in a process
group of its own). Every process it starts is killed when it closes.

Submissions are put in directly (rows, the archive in the storage folder, ``enqueue``), as the
intake would after validating an upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
SERVICE_API = "lab.centre.api:create_app"      # the whole service, as `lab serve` runs it
WORKER_API = "lab.centre.worker_api:create_app"  # the worker endpoints alone


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, then theirs), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for kid in parents.get(todo.pop(), []):
            found.append(kid)
            todo.append(kid)
    return found


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a process and everything below it (its pool, the harness's pytest workers)."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 0.5,
             on_timeout: Callable[[], str] = lambda: "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s\n{on_timeout()}")
        time.sleep(every)


def free_port() -> int:
    from lab.centre.engines import free_port as free

    return free()


def archive_of(folder: Path, dest: Path) -> str:
    """``folder`` as a .tar.gz at ``dest`` (one top folder, as a vendor packs it); its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=folder.name, filter=lambda m: None if "__pycache__" in m.name else m)
    return hashlib.sha256(dest.read_bytes()).hexdigest()


class Centre:
    """The service's processes over real engines, for one test module or one benchmark."""

    def __init__(self, pg, rabbit, home: Path, *, heartbeat_s: float = 1.0, lost_after_s: float = 8.0,
                 cell_attempts: int = 3, republish_after_s: float = 300.0, app: str = SERVICE_API):
        from lab.settings import Settings

        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs = home / "logs"
        self.logs.mkdir(exist_ok=True)
        tag = f"t{secrets.token_hex(4)}"
        self.database = tag
        pg._run(str(pg_bin() / "psql"), "-h", str(pg.home), "-p", str(pg.port), "-U", "postgres", "-d", "postgres",
                "-v", "ON_ERROR_STOP=1", "-qtAc", f"create database {tag} owner lab")
        self.pg = pg
        rabbit.ctl("add_vhost", tag)
        rabbit.ctl("set_permissions", "-p", tag, "lab", ".*", ".*", ".*")
        self.rabbit, self.vhost = rabbit, tag
        self.port = free_port()
        self.settings = Settings(
            database_url=pg.url().rsplit("/", 1)[0] + f"/{tag}", broker_url=rabbit.url().rstrip("/") + f"/{tag}",
            storage=home / "storage", service_url=f"http://127.0.0.1:{self.port}", inventory=ROOT / "targets.toml",
            heartbeat_s=heartbeat_s, lost_after_s=lost_after_s, cell_attempts=cell_attempts,
            republish_after_s=republish_after_s)
        self.settings.storage.mkdir(parents=True, exist_ok=True)
        self.worker_token = secrets.token_urlsafe(24)  # hello and claim need it
        self.app = app
        self.api: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        from lab.catalogue.db import open_catalogue

        self.engine = open_catalogue(self.settings.database_url)

    # --- processes --------------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        s = self.settings
        return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
                "LAB_DATABASE_URL": s.database_url, "LAB_BROKER_URL": s.broker_url, "LAB_STORAGE": str(s.storage),
                "LAB_SERVICE_URL": s.service_url, "LAB_INVENTORY": str(s.inventory),
                "LAB_HEARTBEAT_S": str(s.heartbeat_s), "LAB_LOST_AFTER_S": str(s.lost_after_s),
                "LAB_CELL_ATTEMPTS": str(s.cell_attempts), "LAB_REPUBLISH_AFTER_S": str(s.republish_after_s),
                "LAB_WORKER_TOKEN": self.worker_token}

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(argv, cwd=self.home, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    def start_api(self, timeout: float = 60) -> None:
        self.api = self._spawn("api", [sys.executable, "-m", "uvicorn", "--factory", self.app, "--host", "127.0.0.1",
                                       "--port", str(self.port), "--log-level", "warning"])

        def up():
            if self.api.poll() is not None:
                raise AssertionError(f"the API exited with {self.api.returncode}:\n{self.tail('api')}")
            try:  # the worker endpoints are mounted and answer (401: no credential)
                return httpx.get(f"{self.settings.service_url}/api/v1/worker/cells/0/submission", timeout=2,
                                 trust_env=False).status_code == 401
            except httpx.TransportError:
                return False
        wait_for("the API answers", up, timeout, on_timeout=lambda: self.tail("api"))

    def stop_api(self, sig: int = signal.SIGKILL) -> None:
        if self.api is not None and self.api.poll() is None:
            kill_tree(self.api, sig)
        self.api = None

    def start_worker(self, name: str, targets: list[str], slots: int = 1, wait: bool = True,
                     timeout: float = 90, env: dict[str, str] | None = None) -> subprocess.Popen:
        started = datetime.now(UTC)
        proc = self._spawn(name, [sys.executable, "-m", "lab", "worker", "--name", name, "--targets",
                                  ",".join(targets), "--slots", str(slots), "--inventory", str(ROOT / "targets.toml")],
                           env)
        self.workers[name] = proc
        if wait:
            from lab.centre.ledger import aware
            from lab.centre.models import Worker

            def said_hello():
                if proc.poll() is not None:
                    raise AssertionError(f"worker {name} exited with {proc.returncode}:\n{self.tail(name)}")
                with Session(self.engine) as s:
                    w = s.get(Worker, name)
                    return w is not None and aware(w.heartbeat) >= started
            wait_for(f"worker {name} says hello", said_hello, timeout, on_timeout=lambda: self.tail(name))
            time.sleep(1.0)  # its consumer is up once the pool is (the hello comes after worker_ready)
        return proc

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.workers.pop(name)
        kill_tree(proc, sig)

    def stop_worker(self, name: str, timeout: float = 150) -> int | None:
        """SIGTERM, as an operator stops it: it stops its cells and exits."""
        proc = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            return None

    def tail(self, name: str, lines: int = 60) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name}.log ---\n" + "\n".join(text.splitlines()[-lines:])

    def tails(self) -> str:
        return "\n".join(self.tail(p.stem) for p in sorted(self.logs.glob("*.log")))

    def close(self) -> None:
        for name in list(self.workers):
            proc = self.workers.pop(name)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=60)
            kill_tree(proc)
        self.stop_api()
        from lab.centre.tasks import app_for

        with contextlib.suppress(Exception):
            app_for(self.settings.broker_url).close()
        self.engine.dispose()

    # --- submissions and the ledger ---------------------------------------------------------------

    def submit(self, folder: Path, targets: list[str], org: str = "acme", suites: list[str] | None = None,
               enqueue: bool = True) -> str:
        """Put a submission in as the intake would: the archive in the storage, rows, the tasks."""
        from lab.centre import ledger
        from lab.centre.models import Organisation, Submission
        from lab.centre.tasks import enqueue as publish
        from lab.runid import new_run_id
        from lab.submission import load_submission

        loaded = load_submission(folder)
        sid = str(uuid.uuid4())
        digest = archive_of(folder, self.settings.storage / "submissions" / sid / "submission.tar.gz")
        product = loaded.model.product
        with Session(self.engine) as s:
            o = s.scalar(select(Organisation).where(Organisation.name == org))
            if o is None:
                o = Organisation(name=org, created=datetime.now(UTC))
                s.add(o)
                s.flush()
            sub = Submission(id=sid, org_id=o.id, product=product.name, version=product.version,
                             vendor=product.vendor, run_id=new_run_id(f"{product.name}-{sid[:8]}"),
                             archive_sha256=digest,
                             artifacts=[{"path": a.path, "sha256": loaded.sha256[a.path]}
                                        for a in loaded.model.artifacts],
                             suites=list(suites or []), state="queued", published=False, created=datetime.now(UTC))
            s.add(sub)
            cells = ledger.plan_cells(s, sub, targets)
            s.commit()
            if enqueue:
                for c in cells:
                    publish(c, self.settings)
        loaded.cleanup()
        return sid

    def attempts(self, submission_id: str) -> list:
        """Every attempt row of a submission, detached: (target, attempt, state, worker, reason, results)."""
        from lab.centre.models import Cell

        with Session(self.engine) as s:
            return [(c.target, c.attempt, c.state, c.worker, c.reason, c.results, c.started_at, c.finished_at)
                    for c in s.scalars(select(Cell).where(Cell.submission_id == submission_id)
                                       .order_by(Cell.target, Cell.attempt))]

    def views(self, submission_id: str) -> list[dict]:
        from lab.centre import ledger

        with Session(self.engine) as s:
            return ledger.cell_views(s, submission_id)

    def state(self, submission_id: str) -> str:
        from lab.centre.models import Submission

        with Session(self.engine) as s:
            return s.get(Submission, submission_id).state

    def finished(self, *submission_ids: str) -> bool:
        return all(self.state(i) == "finished" for i in submission_ids)

    def wait_finished(self, *submission_ids: str, timeout: float = 240) -> None:
        wait_for(f"submissions {', '.join(i[:8] for i in submission_ids)} finish",
                 lambda: self.finished(*submission_ids), timeout, on_timeout=self.tails)

    def running_on(self, submission_id: str) -> tuple[str, int] | None:
        """(worker, attempt cell id) of the submission's running cell, if one runs."""
        from lab.centre.models import Cell

        with Session(self.engine) as s:
            c = s.scalar(select(Cell).where(Cell.submission_id == submission_id, Cell.state == "running"))
            return (c.worker, c.id) if c is not None else None

    def run_id(self, submission_id: str) -> str:
        from lab.centre.models import Submission

        with Session(self.engine) as s:
            return s.get(Submission, submission_id).run_id


def pg_bin() -> Path:
    from lab.centre.engines import PG_BIN

    return PG_BIN
