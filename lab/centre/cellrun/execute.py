"""Running the claimed cell's one target as ``lab run --targets X --no-report`` would:
``lab.run.controller.execute`` with a ``Plan`` of that target, into a private folder. A run that
cannot start still leaves a ``verdicts.json``: the cell is broken (the lab's fault), with why."""

from __future__ import annotations

import time
from pathlib import Path

from lab.centre.cellrun.identity import WorkerIdentity
from lab.centre.cellrun.signals import Signals
from lab.errors import LabError


def attempt_run_id(claimed: dict) -> str:
    """Each attempt's own run id: the containers a run leaves are removed by run id, so two cells of
    one submission on one host never remove each other's containers."""
    return f"{claimed['run_id']}.c{claimed['cell']}"


def _broken_verdicts(claimed: dict, run_id: str, why: str):
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


def write_broken(out: Path, claimed: dict, why: str) -> None:
    """A run that could not start: ``verdicts.json`` says the cell is broken, and why."""
    from lab.results.write import write_atomic

    write_atomic(out / "verdicts.json", _broken_verdicts(claimed, attempt_run_id(claimed), why).dump())


def execute_cell(claimed: dict, archive: Path, out: Path, ident: WorkerIdentity, signals: Signals) -> bool:
    """Run the one target into ``out``; False when it was stopped before its end (nothing to upload)."""
    from lab.inventory import load_inventory
    from lab.run.controller import execute
    from lab.run.plan import Plan, choose_suites
    from lab.submission import load_for_lab

    run_id = attempt_run_id(claimed)
    try:
        inv = load_inventory(ident.inventory)
        target = inv.model.get(claimed["target"])
    except KeyError:
        write_broken(out, claimed, f"target {claimed['target']} is not in this worker's inventory "
                                   f"({ident.inventory})")
        return True
    try:
        sub = load_for_lab(archive, inv.model.lab)
    except LabError as exc:  # it passed the service's checks: this host's limits or disk differ
        write_broken(out, claimed, f"the submission could not be read here: {exc}")
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
