"""``lab run SUBMISSION``: deploy and judge a submission on its targets, in parallel.

Parse, call plan -> execute -> finish, print, exit. Every string a vendor wrote is printed as
text (never as markup), and the run's end (certificates, report, catalogue) is done before any
printing, so a line that cannot be shown never costs the vendor a record.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.markup import escape

from lab.cli.console import err, out, shown
from lab.cli.options import Inventory, split_names
from lab.errors import InputError

if TYPE_CHECKING:  # the run's own modules load when it runs, not for every `lab` command
    from lab.run.finish import Finished
    from lab.run.plan import Plan


def run(
    submission: Path = typer.Argument(None, help="submission folder, .tar.gz or .zip"),
    targets: list[str] = typer.Option(None, "--targets", help="A,B: these targets instead of the claims"),
    suites: list[str] = typer.Option(None, "--suites", help="S,T: only these suites"),
    output: Path = typer.Option(None, "--output", "-o", help="results folder (default reports/runs/<run-id>)"),
    jobs: int = typer.Option(4, "-j", "--jobs", min=1, max=64, help="targets in parallel"),
    inventory: Path = Inventory,
    no_report: bool = typer.Option(False, "--no-report", help="do not render the report (HTML, Allure, PDF)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and stop"),
    catalogue: str = typer.Option(None, "--catalogue", help="SQLAlchemy URL (default: reports/catalogue.db)"),
    rerun_broken: Path = typer.Option(None, "--rerun-broken", help="DIR: rerun only the broken targets of that run"),
) -> None:
    """Deploy and test on the claimed targets (or those named); exit 0 passed, 1 failed, 2 bad input, 3 broken."""
    from lab.run.forking import preload

    if not dry_run:
        preload()  # started already by `lab` itself (lab.__main__); kept for callers of this function
    from rich.live import Live

    from lab.inventory import load_inventory
    from lab.run.controller import close_workers, execute, exit_code
    from lab.run.finish import finish, warm_up
    from lab.run.progress import table
    from lab.run.rerun import plan_rerun
    from lab.submission import load_for_lab
    from lab.suite.applicable import not_applicable
    from lab.waivers import load_waivers

    inv = load_inventory(inventory)
    waivers = load_waivers(inv)  # a malformed waivers.toml is refused before anything runs
    for warning in waivers.warnings:
        err.print(f"[yellow]waivers:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    previous = None
    if rerun_broken is not None:
        plan, previous = plan_rerun(rerun_broken, inv)
        if plan is None:
            out.print(f"nothing to rerun: no target of {escape(previous.run)} is broken")
            raise typer.Exit(exit_code(previous))
        submission = plan.submission
    elif submission is None:
        raise InputError("lab run", ["SUBMISSION: missing (or give --rerun-broken DIR)"])
    sub = load_for_lab(submission, inv.model.lab)
    closing = None  # the workers still removing their targets once the run has their results
    try:
        if previous is None:
            plan = _plan(inv, sub, submission, targets, suites, output)
        p = sub.model.product
        out.print(f"run [bold]{escape(plan.run_id)}[/]{' (rerun of the broken targets)' if previous else ''}: "
                  f"{escape(p.name)} {escape(p.version)} on {', '.join(t.name for t in plan.targets)}; "
                  f"suites {', '.join(plan.suites)}", highlight=False)
        if dry_run:
            out.print_json(data=plan.describe())
            return
        if previous is None:  # a product belongs to its vendor: refused before any target is touched
            from lab.catalogue.db import open_for
            from lab.catalogue.record import check_owner

            check_owner(open_for(inv, catalogue), p.name, p.vendor, source=str(submission), catalogue=catalogue)
        signal.signal(signal.SIGHUP, _hung_up)
        if catalogue:  # the workers match the SBOM against this catalogue's vulnerability records too
            os.environ["LAB_CATALOGUE"] = catalogue
        workers_done = warm_up(report=not no_report, languages=inv.model.lab.languages, lab=inv.model.lab,
                               logs=plan.out / "logs", workers=min(len(plan.targets), max(1, jobs)),  # at once
                               watching="stability" in plan.suites and any(
                                   not_applicable("stability.uptime", sub.model, t) is None for t in plan.targets),
                               targets=[t.name for t in plan.targets])
        closing = []
        with Live(table([]), console=out, refresh_per_second=4, transient=not out.is_terminal) as live:
            verdicts = execute(plan, inv, sub, jobs, on_tick=lambda rows: live.update(table(rows)), previous=previous,
                               closing=closing)
        workers_done.set()
        # the report is made while the workers that have written their results remove their targets
        done = finish(plan, inv, verdicts, report=not no_report, catalogue=catalogue, waivers=waivers)
    finally:
        if closing is not None:
            close_workers(plan, closing)
        sub.cleanup()
    try:
        _summary(done, plan)
    except Exception as exc:  # the run is recorded; only its summary could not be shown
        err.print(f"[magenta]the summary could not be printed[/] ({escape(type(exc).__name__)}); "
                  f"results: {plan.out / 'verdicts.json'}", highlight=False)
    _leave(exit_code(done.verdicts))  # after the waivers


def _leave(code: int) -> NoReturn:
    """The end of a whole run, everything in it written, closed and committed and the summary
    printed: the exit handlers run (temporary folders, multiprocessing's), output is flushed, and the
    process ends without Python's teardown, which would free the heap object by object (WeasyPrint's
    fonts, Docker's and SQLAlchemy's machinery, a thousand modules): half a second of every run."""
    import atexit
    import sys
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter runs first at its exit:
    if shutdown is not None:  # the threads' own exit hooks (an idle pool's), then their joins
        shutdown()
    else:
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _hung_up(_signum, _frame) -> None:
    """The terminal is gone (a closed SSH session): the run goes on to its end and records all of
    it, printing nowhere (a review lost a whole matrix's verdicts, report and catalogue to it)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _plan(inv, sub, submission: Path, targets, suites, output: Path | None) -> Plan:
    from lab.run.controller import default_out
    from lab.run.plan import Plan, choose_suites, choose_targets
    from lab.runid import new_run_id

    chosen = choose_targets(inv, sub, split_names(targets))
    run_id = new_run_id(sub.model.product.name)
    if output and output.exists() and any(output.iterdir()):
        raise InputError("--output", [f"{output} exists and is not empty"])
    return Plan(run_id, chosen, choose_suites(split_names(suites)), (output or default_out(run_id)).resolve(),
                submission.resolve())


def _summary(done: Finished, plan: Plan) -> None:
    from rich.table import Table

    from lab.run.progress import colour

    verdicts = done.verdicts
    t = Table(title=shown(f"{verdicts.submission.name} {verdicts.submission.version}: verdicts"))
    for col in ("target", "verdict", "failed / broken checks", "reason"):
        t.add_column(col, overflow="fold")
    for name, r in verdicts.targets.items():
        t.add_row(shown(name), colour(r.verdict), shown(_bad_checks(r)),
                  shown(r.reason.splitlines()[0]) if r.reason else "")
    out.print(t)
    waivers_said(done)
    if verdicts.interrupted:
        out.print("[magenta]interrupted[/]: the targets that had not finished are broken")
    out.print(f"results: {shown(str(plan.out / 'verdicts.json'))}", highlight=False)
    if done.report:
        out.print(f"report: {shown(str(done.report))}", highlight=False)
    if done.report_error:
        out.print(f"[magenta]report not rendered[/]: {shown(done.report_error)}", highlight=False)
    if done.record_error:
        out.print(f"[magenta]not recorded in the catalogue[/]: {shown(done.record_error)}", highlight=False)


def _bad_checks(r) -> str:
    """The required checks that failed or broke; a target the lab could not start breaks them all for
    one reason (the next column), so those are counted, not listed."""
    bad = [c for c in r.checks if c.required and c.outcome in ("failed", "broken")]
    if len(bad) > 3 and all(c.outcome == "broken" and c.message == bad[0].message for c in bad):
        return f"{bad[0].id} and {len(bad) - 1} more, broken for the same reason"
    return ", ".join(c.id for c in bad)


def waivers_said(done: Finished) -> None:
    """Each failure a waiver accepted, and each an expired waiver no longer does."""
    applied = done.waivers
    if applied is None:
        return
    for u in applied.waived:
        out.print(f"[cyan]waived[/]: {shown(u.check)} on {shown(u.target)} until {u.entry.expires.isoformat()} "
                  f"(reviewer {shown(u.entry.reviewer)}): {shown(u.entry.reason)}", highlight=False, soft_wrap=True)
    for u in applied.expired:
        out.print(f"[yellow]waiver expired[/] on {u.entry.expires.isoformat()}: {shown(u.check)} on "
                  f"{shown(u.target)} is failed again (the waiver by {shown(u.entry.reviewer)} no longer applies)",
                  highlight=False, soft_wrap=True)
