"""What a worker does with one cell, over HTTP only (no shared filesystem, no database):

1. on a board, wait for this host's lock of the board (two workers here that both declare it run
   its cells one after the other; the ledger refuses a second live cell of a board anywhere);
2. claim the cell (``POST /api/v1/worker/cells/{id}/claim``): a credential for this attempt;
3. download the submission and check its sha256;
4. run the one target as ``lab run --targets X --no-report`` would: ``lab.run.controller.execute``
   with a ``Plan`` of that target into a private temporary folder, while a thread sends a
   heartbeat every ``heartbeat_s`` (and stops the run if the attempt was taken over);
5. upload the run folder as a ``.tar.gz`` (retrying with backoff while the API is unreachable or
   restarting; a repeated upload is answered as the first); the service signs the certificate;
6. remove the temporary folder.

SIGTERM (``lab worker`` being stopped) stops the run: the harness's workers tear their containers
down, the attempt is given back (``release``) and queued again for another worker.

Each attempt runs under a run id of its own (``<submission run id>.c<attempt cell id>``): the
containers a run leaves are removed by run id, so two cells of one submission on one host never
remove each other's containers. Containers whose owner process is gone (a worker killed with
SIGKILL) are removed before each cell.

A run of one cell is bounded by ``[lab.limits] worker_timeout`` (execute stops it there), which must
stay below RabbitMQ's consumer timeout (a day, set by engines.Rabbit): a delivery unacknowledged
longer would be cancelled by the broker and the cell delivered again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lab.errors import InfrastructureError, LabError
from lab.settings import Settings

log = logging.getLogger("lab.centre.cellrun")

CONNECT_TRIES = 4          # quick tries before a claim is put off (the API may be restarting)
UPLOAD_WINDOW_S = 900      # how long an upload is retried before the attempt is left to the sweep
BACKOFF_MAX_S = 30
ARCHIVE_NAME = re.compile(r"submission\.(tar\.gz|tgz|zip)")
# How long a task waits before trying a cell again when the API cannot be reached (it may be
# restarting), and how many times: about a day in all; the ledger's sweep covers the rest.
API_RETRY_S = 30
API_RETRIES = 2880


def worker_token() -> str | None:
    """``LAB_WORKER_TOKEN`` (environment or ``.env``): when the service has one, a worker must show it
    to say hello and to claim a cell. Every other worker call is bound to one attempt by its credential."""
    return Settings().worker_secret()


@dataclass
class WorkerIdentity:
    """Who this worker process is: set by ``lab worker`` before the pool forks, read by tasks."""

    name: str
    targets: list[str]
    slots: int
    inventory: Path
    settings: Settings
    token: str | None = None  # LAB_WORKER_TOKEN, shown to say hello and to claim
    extra: dict = field(default_factory=dict)


class Retry(Exception):
    """Put the cell off: its task comes back after ``after`` seconds."""

    def __init__(self, why: str, after: float):
        super().__init__(why)
        self.after = after


class Stop(Exception):
    """The run must stop: the worker is being stopped, or the attempt was taken over."""


def cells_root(name: str) -> Path:
    """Where this worker's cells run: private, one folder per worker name."""
    root = Path(tempfile.gettempdir()) / f"lab-cells-{re.sub(r'[^A-Za-z0-9._-]', '-', name)}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def clean_stale(name: str) -> None:
    """At a worker's start: the cell folders that a killed process of this worker left (each is
    named after the process that made it; those of live processes are kept)."""
    root = cells_root(name)
    for p in root.iterdir():
        m = re.match(r"cell-\d+-p(\d+)-", p.name)
        if m and _alive(int(m.group(1))):
            continue
        shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_orphans() -> list[str]:
    """Remove the lab containers whose owner process is gone (a worker killed mid-cell)."""
    try:
        from lab.provision.gc import collect

        return collect()
    except Exception as exc:  # no docker engine here: nothing to collect, say why in the log
        log.warning("could not look for orphaned containers: %s", exc)
        return []


class Service:
    """The API as a worker sees it."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout, connect=5.0),
                                 trust_env=False)
        self.worker = _bearer(token) if token else {}  # the workers' shared secret, for hello and claim

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, **kw) -> httpx.Response:
        return self.http.post(f"/api/v1/worker{path}", **kw)

    def hello(self, ident: WorkerIdentity) -> dict:
        r = self.post("/hello", json={"name": ident.name, "targets": ident.targets, "slots": ident.slots},
                      headers=self.worker)
        r.raise_for_status()
        return r.json()


def _bearer(credential: str) -> dict:
    return {"Authorization": f"Bearer {credential}"}


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:500]
    if isinstance(body, dict) and "problems" in body:
        return "; ".join(f"{p.get('field')}: {p.get('message')}" for p in body["problems"])[:2000]
    return str(body.get("detail", body) if isinstance(body, dict) else body)[:2000]


# --- claim ---------------------------------------------------------------------------------------


def _claim(api: Service, cell_id: int, worker: str, retries: int) -> dict | str:
    """The claim's answer, or why the cell is not ours to run (a string: the task ends); ``Retry``
    when it should be tried again later."""
    last = None
    for i in range(CONNECT_TRIES):
        try:
            r = api.post(f"/cells/{cell_id}/claim", json={"worker": worker}, headers=api.worker)
        except httpx.TransportError as exc:
            last = exc
            time.sleep(min(2 ** i, 8))
            continue
        if r.status_code == 200:
            return r.json()
        if r.status_code == 409 and r.json().get("state") == "busy":
            raise Retry(_detail(r), float(r.json().get("retry_after") or 5))
        if r.status_code == 404 and retries < 3:  # published just before its row was committed?
            raise Retry("cell not found yet", 2.0)
        if r.status_code in (404, 409, 410):
            return f"not run: {_detail(r)}"
        if r.status_code >= 500:
            last = RuntimeError(f"HTTP {r.status_code}: {_detail(r)}")
            time.sleep(min(2 ** i, 8))
            continue
        # 401 (a wrong LAB_WORKER_TOKEN) or anything unexpected: this worker cannot take the cell,
        # another may; the message goes back rather than being lost
        log.error("cell %s: the API refused the claim: HTTP %s: %s", cell_id, r.status_code, _detail(r))
        raise Retry(f"claim refused (HTTP {r.status_code})", API_RETRY_S)
    raise Retry(f"the API is not reachable: {last}", API_RETRY_S)


# --- heartbeat -----------------------------------------------------------------------------------


class Heartbeat(threading.Thread):
    """Says the attempt is alive every ``every`` seconds; when the API answers that the attempt is no
    longer current (taken over, or done), calls ``on_lost`` once. Network errors are only logged:
    the API may be restarting."""

    def __init__(self, api_url: str, cell_id: int, credential: str, every: float, on_lost: Callable[[str], None]):
        super().__init__(name=f"heartbeat-{cell_id}", daemon=True)
        self.url, self.cell_id, self.credential, self.every, self.on_lost = api_url, cell_id, credential, every, on_lost
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.lost = ""

    def run(self) -> None:
        api = Service(self.url, timeout=10)
        try:
            while not self.stopped.wait(self.every):
                try:
                    r = api.post(f"/cells/{self.cell_id}/heartbeat", headers=_bearer(self.credential))
                except httpx.TransportError as exc:
                    log.warning("cell %s: heartbeat not delivered: %s", self.cell_id, exc)
                    continue
                if r.status_code in (403, 404, 409, 410):
                    with self.lock:
                        if not self.stopped.is_set():  # never after the run has ended
                            self.lost = _detail(r)
                            self.on_lost(self.lost)
                    return
        finally:
            api.close()

    def stop(self) -> None:
        with self.lock:
            self.stopped.set()


# --- the run itself ------------------------------------------------------------------------------


class _Signals:
    """While a cell runs in this (pool) process: SIGTERM and SIGUSR1 stop it. Outside ``execute``
    they raise ``Stop``; inside, ``execute``'s own handling stops the harness's workers cleanly."""

    def __init__(self):
        self.why = ""
        self.in_execute = False
        self.soft = False  # while uploading: only note it, the upload ends on its own
        self.claimed = False
        self.old: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        self.why = self.why or ("the worker is being stopped" if signum == signal.SIGTERM else "taken over")
        if self.in_execute:
            raise KeyboardInterrupt
        if not self.soft:
            raise Stop(self.why)


def _download(api: Service, claimed: dict, credential: str, into: Path, limit: int) -> Path:
    """The submission's archive, checked against its sha256; retried while the API is unreachable."""
    delay = 1.0
    for i in range(CONNECT_TRIES + 2):
        try:
            return _download_once(api, claimed, credential, into, limit)
        except httpx.TransportError as exc:
            if i == CONNECT_TRIES + 1:
                raise InfrastructureError(f"the submission could not be downloaded: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
    raise AssertionError("unreachable")


def _download_once(api: Service, claimed: dict, credential: str, into: Path, limit: int) -> Path:
    sub = claimed["submission"]
    name = sub.get("archive_name") or ""
    if not ARCHIVE_NAME.fullmatch(name):
        raise InfrastructureError(f"the service has no archive for submission {sub['id']}")
    path = into / name
    digest, size = hashlib.sha256(), 0
    with api.http.stream("GET", claimed["download"], headers=_bearer(credential)) as r:
        if r.status_code != 200:
            r.read()
            raise InfrastructureError(f"the submission's download failed: HTTP {r.status_code}: {_detail(r)}")
        with path.open("wb") as fh:
            for chunk in r.iter_bytes(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InfrastructureError(f"the submission's download is larger than {limit} bytes")
                digest.update(chunk)
                fh.write(chunk)
    if sub.get("archive_sha256") and digest.hexdigest() != sub["archive_sha256"]:
        raise InfrastructureError(f"the submission's download has sha256 {digest.hexdigest()}, "
                                  f"not {sub['archive_sha256']}")
    return path


def _broken_verdicts(claimed: dict, run_id: str, why: str):
    """A run that could not start: the cell is broken (the lab's fault), with the reason."""
    from lab import __version__
    from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts

    sub = claimed["submission"]
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    result = TargetResult(verdict="broken", reason=f"lab.worker: {why.splitlines()[0][:500]}",
                          checks=[Check(id="lab.worker", outcome="broken", message=why)])
    return Verdicts(run=run_id, harness=__version__, started=now, finished=now,
                    submission=SubmissionRef(name=sub["product"], version=sub["version"], vendor=sub["vendor"],
                                             artifacts=[ArtifactRef(**a) for a in sub.get("artifacts") or []]),
                    targets={claimed["target"]: result})


def _execute(claimed: dict, archive: Path, out: Path, ident: WorkerIdentity, signals: _Signals) -> bool:
    """Run the one target into ``out``; False when it was stopped before its end (nothing to upload)."""
    from lab.inventory import load_inventory
    from lab.results.write import write_atomic
    from lab.run.controller import execute
    from lab.run.plan import Plan, choose_suites
    from lab.submission import load_for_lab

    run_id = f"{claimed['run_id']}.c{claimed['cell']}"
    try:
        inv = load_inventory(ident.inventory)
        target = inv.model.get(claimed["target"])
    except KeyError:
        write_atomic(out / "verdicts.json", _broken_verdicts(
            claimed, run_id, f"target {claimed['target']} is not in this worker's inventory "
                             f"({ident.inventory})").dump())
        return True
    try:
        sub = load_for_lab(archive, inv.model.lab)
    except LabError as exc:  # it passed the service's checks: this host's limits or disk differ
        write_atomic(out / "verdicts.json", _broken_verdicts(claimed, run_id,
                                                             f"the submission could not be read here: {exc}").dump())
        return True
    try:
        suites = choose_suites(list(claimed.get("suites") or []) or None)
        plan = Plan(run_id, [target], suites, out, archive.resolve())
        signals.in_execute = True
        try:
            verdicts = execute(plan, inv, sub, jobs=1)
        finally:
            signals.in_execute = False
    finally:
        sub.cleanup()
    return not verdicts.interrupted


def _tar(folder: Path, into: Path) -> Path:
    path = into / "results.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=child.name, recursive=True,
                    filter=lambda m: m if (m.isfile() or m.isdir()) else None)
    return path


def _upload(api: Service, cell_id: int, credential: str, tarball: Path, signals: _Signals) -> str:
    """Upload until it lands (or the window closes); the API's answer or why not."""
    deadline = time.monotonic() + UPLOAD_WINDOW_S
    delay = 1.0
    while True:
        try:
            with tarball.open("rb") as fh:
                r = api.post(f"/cells/{cell_id}/results", content=fh,
                             headers={**_bearer(credential), "Content-Type": "application/gzip"})
            if r.status_code == 200:
                return f"uploaded: {r.json().get('verdict')}"
            if r.status_code < 500 and r.status_code not in (408, 429):
                return f"refused: HTTP {r.status_code}: {_detail(r)}"
            why = f"HTTP {r.status_code}"
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + delay > deadline or signals.why:
            return f"not uploaded: {why}"
        log.warning("cell %s: upload failed (%s); again in %.0f s", cell_id, why, delay)
        time.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


def _release(api: Service, cell_id: int, credential: str, why: str) -> None:
    try:
        r = api.post(f"/cells/{cell_id}/release", json={"reason": why[:2000]}, headers=_bearer(credential))
        if r.status_code != 200:
            log.warning("cell %s: release answered HTTP %s: %s", cell_id, r.status_code, _detail(r))
    except httpx.TransportError as exc:  # the sweep takes it over once its heartbeat is stale
        log.warning("cell %s: release not delivered: %s", cell_id, exc)


def _board_lock(ident: WorkerIdentity, target: str | None):
    """This host's lock of a board target (none for other targets): held from the claim to the end
    of the run, so the harness's own board lock never waits on another cell of this host."""
    if not target:
        return contextlib.nullcontext()
    try:
        from lab.inventory import load_inventory

        t = load_inventory(ident.inventory).model.get(target)
    except (KeyError, LabError):
        return contextlib.nullcontext()
    if t.backend != "ssh":
        return contextlib.nullcontext()
    from lab.provision.board import board_lock

    wait = load_inventory(ident.inventory).model.lab.limits.worker_timeout + 600
    return board_lock(f"{target}.cell", wait_s=wait)


def run_one(cell_id: int, ident: WorkerIdentity, target: str | None = None, retries: int = 0) -> str:
    """Run cell ``cell_id`` on this worker; what became of it, in a few words. ``Retry`` when the
    task should come back later; ``target`` (from the queue's name) picks the board lock."""
    settings = ident.settings
    api = Service(settings.service_url, token=ident.token)
    try:
        with _Signals() as signals, contextlib.ExitStack() as board:
            try:
                board.enter_context(_board_lock(ident, target))
                claimed = _claim(api, cell_id, ident.name, retries)
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


def _run_claimed(api: Service, claimed: dict, ident: WorkerIdentity, signals: _Signals,
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
            archive = _download(api, claimed, credential, work, ident.settings.max_upload_bytes)
            out = work / "run"
            out.mkdir()
            complete = _execute(claimed, archive, out, ident, signals)
        except InfrastructureError as exc:
            out = work / "run"
            out.mkdir(exist_ok=True)
            from lab.results.write import write_atomic

            write_atomic(out / "verdicts.json",
                         _broken_verdicts(claimed, f"{claimed['run_id']}.c{cell_id}", str(exc)).dump())
            complete = True
        except (Stop, KeyboardInterrupt):
            complete = False
        free_board()  # the run is over (and the board reset): the next cell may have it while this uploads
        if not complete:
            if beat.lost:
                return f"stopped: {beat.lost}"
            why = signals.why or "the worker is being stopped"  # execute's own SIGTERM handler took it
            _release(api, cell_id, credential, why)
            return f"released: {why}"
        signals.soft = True
        tarball = _tar(out, work)
        answer = _upload(api, cell_id, credential, tarball, signals)
        log.info("cell %s: %s", cell_id, answer)
        if answer.startswith("refused: HTTP 422"):
            _release(api, cell_id, credential, f"its results were refused: {answer}")
        return answer
    finally:
        beat.stop()
        beat.join(timeout=15)
        shutil.rmtree(work, ignore_errors=True)
