"""``lab recertify [--dry-run] [--within DAYS]``: run again every certification whose target image,
board OS or suites changed since it was issued, or whose certificate expires within DAYS.

It lists each one with why, then runs its kept submission again on those targets through the same
plan -> execute -> finish path as ``lab run`` (stale images are rebuilt first, as ``lab images
build`` would); the new result is recorded as re-running the old one and supersedes it on the
buyers' pages, which keep the history (renewed, or now failing). Exit 0 when every one was renewed
(or none was due), 1 when one now fails, 3 when one broke or could not be run again, 2 bad input.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import typer

from lab.cli.console import err, out, shown
from lab.cli.options import Inventory


def recertify(
    dry_run: bool = typer.Option(False, "--dry-run", help="list what is due, and why; run nothing"),
    within: float = typer.Option(0, "--within", min=0, max=3650, help="also certificates expiring within DAYS"),
    catalogue: str = typer.Option(None, "--catalogue", help="SQLAlchemy URL (default: reports/catalogue.db)"),
    inventory: Path = Inventory,
    output: Path = typer.Option(None, "--output", "-o", help="folder for the new runs (default reports/runs/)"),
    jobs: int = typer.Option(4, "-j", "--jobs", min=1, max=64, help="targets in parallel"),
    no_report: bool = typer.Option(False, "--no-report", help="do not render the HTML reports"),
) -> None:
    """Re-run the certifications whose image, board OS or suites changed, or that expire within DAYS."""
    from lab.catalogue.db import open_for
    from lab.catalogue.renewal import certified, due, lab_now
    from lab.inventory import load_inventory
    from lab.waivers import load_waivers

    inv = load_inventory(inventory)
    waivers = load_waivers(inv)
    for warning in waivers.warnings:
        err.print(f"[yellow]waivers:[/] {shown(warning)}", highlight=False, soft_wrap=True)
    engine = open_for(inv, catalogue)
    cells = certified(engine)
    boards = _boards_now(inv, {c.target for c in cells if c.board_os})
    found = due(cells, lab_now(inv, within, boards=boards))
    if not found:
        out.print("nothing to recertify: every certification's image, board OS, suites and validity are as they were")
        return
    for d in found:
        c = d.cell
        out.print(f"{shown(c.product)} {shown(c.version)} on {shown(c.target)} (run {shown(c.run)}, "
                  f"expires {shown(c.expires[:10])}): {shown('; '.join(d.reasons))}"
                  + (f" [magenta]cannot be run again[/]: {shown(d.blocked)}" if d.blocked else ""),
                  highlight=False, soft_wrap=True)
    if dry_run:
        return
    groups: dict[str, list] = defaultdict(list)
    for d in found:
        if not d.blocked:
            groups[d.cell.run].append(d)
    codes = [3 if any(d.blocked for d in found) else 0]
    for old_run, items in groups.items():
        codes.append(_rerun(inv, engine, old_run, items, catalogue, waivers, output, jobs, not no_report))
    worst = 1 if 1 in codes else 3 if 3 in codes else 0
    raise typer.Exit(worst)


def _boards_now(inv, names: set[str]) -> dict:
    """What each board holding certificates runs now; one that cannot say is named on stderr (its
    certificates are then judged on their suites and expiry alone)."""
    from lab.provision.board_os import boards_now

    targets = [t for t in inv.model.targets if t.name in names and t.backend == "ssh"]
    found = boards_now(targets, inv.model.lab) if targets else {}
    for name, now in found.items():
        if isinstance(now, str):
            err.print(f"[yellow]warning:[/] the OS of board {shown(name)} was not compared: {shown(now)}",
                      highlight=False, soft_wrap=True)
    return found


def _rerun(inv, engine, old_run: str, items: list, catalogue: str | None, waivers, output: Path | None,
           jobs: int, report: bool) -> int:
    """One old run's due targets, run again from its kept archive; the exit code of that run."""
    from lab.catalogue.archives import path_of
    from lab.errors import LabError
    from lab.run.controller import default_out, execute, exit_code
    from lab.run.finish import finish
    from lab.run.plan import Plan, choose_suites
    from lab.runid import new_run_id
    from lab.submission import load_for_lab

    first = items[0].cell
    try:
        archive = path_of(engine, first.archive)
        targets = [inv.model.get(d.cell.target) for d in items]
        _build_stale(inv, targets)
        sub = load_for_lab(archive, inv.model.lab)
    except LabError as exc:
        err.print(f"[magenta]not run again[/]: {shown(first.product)} {shown(first.version)} of run "
                  f"{shown(old_run)}: {shown(str(exc))}", highlight=False, soft_wrap=True)
        return 3  # could not be run again, whatever stopped it (said above)
    try:
        run_id = new_run_id(sub.model.product.name)
        out_dir = (output / run_id if output else default_out(run_id)).resolve()
        plan = Plan(run_id, targets, choose_suites(None), out_dir, archive)
        out.print(f"run [bold]{shown(run_id)}[/] recertifies {shown(old_run)} on "
                  f"{', '.join(t.name for t in targets)}", highlight=False)
        verdicts = execute(plan, inv, sub, jobs)
    finally:
        sub.cleanup()
    reason = "; ".join(sorted({r for d in items for r in d.reasons}))
    done = finish(plan, inv, verdicts, report=report, catalogue=catalogue, waivers=waivers,
                  recertifies=old_run, recertify_reason=reason)
    for name, r in done.verdicts.targets.items():
        cert = done.certificates.get(name)
        if cert is not None:
            waived = sorted({c.id for c in r.checks if c.waiver is not None})
            out.print(f"  [green]renewed[/]: {shown(name)} passed; certificate until "
                      f"{shown(cert['certificate']['expires'][:10])}"
                      + (f"; waived: {shown(', '.join(waived))}" if waived else ""), highlight=False)
        else:
            word = "now failing" if r.verdict == "failed" else r.verdict
            out.print(f"  [red]{word}[/]: {shown(name)}: {shown(r.reason.splitlines()[0] if r.reason else '')}",
                      highlight=False, soft_wrap=True)
    if done.record_error:
        out.print(f"  [magenta]not recorded in the catalogue[/]: {shown(done.record_error)}", highlight=False)
    out.print(f"  results: {shown(str(plan.out / 'verdicts.json'))}", highlight=False)
    return exit_code(done.verdicts)  # after the waivers


def _build_stale(inv, targets) -> None:
    """The images whose recipe changed are built again first (a no-op for those up to date)."""
    from lab.images.build import build_target

    for t in targets:
        if t.backend == "docker" and t.docker is not None and t.docker.buildable:
            build_target(inv, t)
