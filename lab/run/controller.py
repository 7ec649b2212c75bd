"""The controller of a run: start the workers (``-j`` at a time), watch them, merge their results
into ``verdicts.json``, and make sure no container outlives the run, also on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from lab import __version__
from lab.inventory.load import LoadedInventory
from lab.report.allure_meta import write_meta
from lab.results.model import ArtifactRef, Check, Outcome, SubmissionRef, TargetResult, Verdicts
from lab.results.write import write_atomic
from lab.run.forking import server_ready
from lab.run.plan import Plan
from lab.run.progress import TargetProgress
from lab.run.worker import Worker, start_worker
from lab.submission.load import LoadedSubmission

GRACE_S = 120  # for workers to tear down after an interrupt


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _result_path(plan: Plan, name: str) -> Path:
    return plan.out / "targets" / f"{name}.json"  # written whole (temp + rename) by the worker


def close_workers(plan: Plan, closing: list[Worker], insist: list[bool] | None = None) -> None:
    """Wait for the workers still tearing their targets down (``execute(closing=...)``), insist
    after the grace period or at a Ctrl-C, then remove whatever a killed one could not."""
    from lab.provision.gc import collect  # Docker's client: not loaded before the workers start

    with _insisting(insist) as asked:
        _stop_workers({w.target: w for w in closing}, ask=False, insist=asked)
        closing.clear()
        collect(plan.run_id)


@contextlib.contextmanager
def _insisting(asked: list[bool] | None = None) -> Iterator[list[bool]]:
    """While the run winds up, a Ctrl-C or SIGTERM is no KeyboardInterrupt in the middle of it (a
    review's second Ctrl-C lost a run's verdicts.json and left a traceback): it is noted in the list
    yielded, and the workers still running are killed at once instead of waited for."""
    if asked is not None:  # an outer winding-up has the signals already
        yield asked
        return
    asked = []
    try:
        old = {s: signal.signal(s, lambda *_: asked.append(True)) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals are not ours to take
        yield asked
        return
    try:
        yield asked
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A Ctrl-C or SIGTERM that arrives in the block interrupts the run when the block ends: the
    controller starts a worker and counts it among the running in one, so no worker runs that it
    does not stop (a review's SIGTERM at a run's start had one run after verdicts.json)."""
    with _insisting() as asked:
        yield
    if asked:
        raise KeyboardInterrupt


def _read_result(plan: Plan, worker: Worker | None, name: str) -> TargetResult:
    path = _result_path(plan, name)
    if path.exists():
        return TargetResult.model_validate_json(path.read_text())
    if worker is None:
        why = "not started: the run was interrupted first"
    else:
        why = f"the harness worker exited with code {worker.proc.returncode} without results"
    message = why + (f"; its log ends:\n{worker.tail()}" if worker else "")
    return TargetResult(verdict="broken", reason=f"lab.worker: {why}",
                        checks=[Check(id="lab.worker", outcome="broken", message=message)])


def execute(plan: Plan, inv: LoadedInventory, sub: LoadedSubmission, jobs: int,
            on_tick: Callable[[list[TargetProgress]], None] = lambda rows: None,
            previous: Verdicts | None = None, closing: list[Worker] | None = None) -> Verdicts:
    """Run the plan; with ``previous`` (a rerun), its other targets' results are kept as they were.

    With a ``closing`` list, a worker that has written its results counts as done while it still
    tears its target down (a container's removal, a board's clean-up: a second or several): it is
    put in that list, the run goes on to its report, and the caller waits for it with
    ``close_workers`` before it returns. Without one, every worker is waited for here."""
    plan.out.mkdir(parents=True, exist_ok=True)
    if previous is None:
        write_atomic(plan.out / "plan.json", json.dumps(plan.describe(), indent=2))
    product = sub.model.product
    write_meta(plan.out / "allure-results", lab_name=inv.model.lab.name, inventory_sha256=inv.sha256,
               run_id=plan.run_id, product=product.name, version=product.version)
    started = _now()
    rows = [TargetProgress(t.name, plan.out / "logs" / t.name / "events.jsonl") for t in plan.targets]
    queue = [t.name for t in plan.targets]
    running: dict[str, Worker] = {}
    finished: dict[str, Worker] = {}
    interrupted = False
    old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
    wall = inv.model.lab.limits.worker_timeout
    overdue: set[str] = set()
    try:
        while queue or running:
            while queue and len(running) < max(1, jobs):
                name = queue.pop(0)
                server_ready()  # a Ctrl-C while the workers' server still imports stops the run here
                with deferred_interrupts():
                    running[name] = start_worker(plan, name, inv.path, sub.root, sub.sha256)
            for name, w in list(running.items()):
                if w.proc.poll() is not None:
                    finished[name] = running.pop(name)
                elif closing is not None and _result_path(plan, name).exists():
                    finished[name] = running.pop(name)
                    closing.append(w)
                elif time.monotonic() - w.started > wall and name not in overdue:
                    overdue.add(name)  # pytest tears down on SIGINT; a second one would cut it short
                    w.proc.send_signal(signal.SIGINT)
                elif name in overdue and time.monotonic() - w.started > wall + GRACE_S:
                    w.proc.kill()
            for r in rows:
                r.poll()
            on_tick(rows)
            time.sleep(0.05)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:  # the controller's own failure: the workers and their targets go first
        signal.signal(signal.SIGTERM, old_sigterm)
        with _insisting() as insist:
            _wind_up(plan, running, finished, closing, insist)
        raise
    signal.signal(signal.SIGTERM, old_sigterm)
    # From here to verdicts.json, another Ctrl-C or SIGTERM only hurries the workers' end.
    with _insisting() as insist:
        _wind_up(plan, running, finished, closing, insist, interrupted)
        for r in rows:
            r.poll()
        with contextlib.suppress(OSError):  # a terminal gone: the run's files matter, not its last frame
            on_tick(rows)
        results = {t.name: _read_result(plan, finished.get(t.name), t.name) for t in plan.targets}
        for name in overdue:
            results[name] = _past_wall_clock(results[name], wall)
        if previous is not None:
            results = {**previous.targets, **results}
            started = previous.started
        verdicts = Verdicts(
            run=plan.run_id, harness=__version__, started=started, finished=_now(), interrupted=interrupted,
            submission=SubmissionRef(
                name=sub.model.product.name, version=sub.model.product.version, vendor=sub.model.product.vendor,
                artifacts=[ArtifactRef(path=a.path, sha256=sub.sha256[a.path], arch=a.arch)
                           for a in sub.model.artifacts]),
            targets=results,
        )
        write_atomic(plan.out / "verdicts.json", verdicts.dump())
    return verdicts


def _wind_up(plan: Plan, running: dict[str, Worker], finished: dict[str, Worker], closing: list[Worker] | None,
             insist: list[bool], interrupted: bool = True) -> None:
    """Stop the workers still running, then remove whatever a killed one could not."""
    if running:
        _stop_workers(running, insist=insist)
        finished.update(running)
        running.clear()
    if closing is None:
        from lab.provision.gc import collect

        collect(plan.run_id)  # whatever a killed worker could not remove
    elif interrupted:
        close_workers(plan, closing, insist)


def _past_wall_clock(result: TargetResult, wall: float) -> TargetResult:
    """A worker stopped at the wall clock: broken, as the lab's bound, whatever it had reached.

    Each of the product's steps has its own limit (install, command) and fails as the product's
    when it passes it; a whole worker past ``worker_timeout`` means the lab lost track."""
    why = (f"the target's worker ran past [lab.limits] worker_timeout ({wall:g} s) and was stopped; "
           f"{len(result.checks)} check(s) had finished")
    checks = [c for c in result.checks if c.id != "lab.run"] + [Check(id="lab.worker", outcome="broken", message=why)]
    verdict = Outcome.FAILED if result.verdict == Outcome.FAILED else Outcome.BROKEN  # model_copy checks no type
    return result.model_copy(update={"verdict": verdict, "checks": checks,
                                     "reason": result.reason if verdict == Outcome.FAILED else f"lab.worker: {why}"})


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_workers(running: dict[str, Worker], ask: bool = True, insist: list[bool] | None = None) -> None:
    """Ask each worker to stop (pytest tears its fixtures down on SIGINT), then insist after the
    grace period, or at once when ``insist`` says so (a second Ctrl-C); with ``ask=False``, only
    wait for them to end (they are tearing down already), then insist."""
    for w in running.values():
        if ask and w.proc.poll() is None:
            w.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    while any(w.proc.poll() is None for w in running.values()):
        if insist or time.monotonic() > deadline:  # a Ctrl-C noted in the list, or past the grace
            for w in running.values():
                if w.proc.poll() is None:
                    w.proc.kill()
            for w in running.values():
                w.proc.wait()
            return
        time.sleep(0.05)


def exit_code(verdicts: Verdicts) -> int:
    """CONTRACT: 1 if a target failed, else 3 if one is broken, else 0."""
    worst = Outcome.reduce(t.verdict for t in verdicts.targets.values())
    return {Outcome.FAILED: 1, Outcome.BROKEN: 3}.get(worst, 0)


def default_out(run_id: str) -> Path:
    return Path("reports") / "runs" / run_id
