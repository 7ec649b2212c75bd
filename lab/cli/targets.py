"""``lab targets`` and ``lab targets check``."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lab.cli.console import out
from lab.cli.options import Inventory

app = typer.Typer(help="List the inventory, or provision targets and show their facts.",
                  invoke_without_command=True)


@app.callback()
def targets(ctx: typer.Context, inventory: Path = Inventory) -> None:
    ctx.obj = inventory
    if ctx.invoked_subcommand:
        return
    from lab.inventory import load_inventory

    inv = load_inventory(inventory)
    table = Table(title=f"{inv.model.lab.name}: {inv.path}")
    for col in ("target", "enabled", "backend", "arch", "os", "tags", "limits", "where"):
        table.add_column(col)
    for t in inv.model.targets:
        where = t.docker.image if t.docker else f"{t.ssh.user}@{t.ssh.host}:{t.ssh.port}"
        lim = t.docker.limits if t.docker else None
        limits = f"mem {lim.memory}, pids {lim.pids}, cpus {lim.cpus:g}" if lim else "the board's own"
        table.add_row(t.name, "yes" if t.enabled else "[dim]disabled[/]", t.backend, t.facts.arch,
                      f"{t.facts.os_id} {t.facts.os_version}", ",".join(t.tags), limits, where)
    out.print(table)


@app.command("check")
def check(ctx: typer.Context,
          names: list[str] = typer.Argument(None, help="targets (default: every enabled one)"),
          inventory: Path = typer.Option(None, "--inventory", "-i", help="the lab's inventory file "
                                         "(here or before `check`)")) -> None:
    """Provision each target, gather its facts, tear it down; exit 3 if any is broken."""
    from concurrent.futures import ThreadPoolExecutor

    from lab.cli.options import split_names
    from lab.errors import InfrastructureError, LabError
    from lab.inventory import load_inventory
    from lab.provision import provision
    from lab.runid import new_run_id

    inv = load_inventory(inventory or ctx.obj)
    chosen = inv.select(split_names(names), given_as="TARGETS")
    run_id = new_run_id("check")

    def one(target):
        try:
            with provision(target, run_id, inv.model.lab) as p:
                return target, p.facts, None
        except LabError as exc:
            return target, None, str(exc)

    with out.status(f"provisioning {len(chosen)} target(s)..."), ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, chosen))
    table = Table(title="target facts")
    for col in ("target", "status", "arch", "emulated", "os", "glibc", "packages", "updated", "limits", "kernel"):
        table.add_column(col)
    for target, facts, _reason in results:
        if facts is None:
            table.add_row(target.name, "[magenta]broken[/]", target.facts.arch, "", "", "", "", "", "", "")
            continue
        limits = ", ".join(f"{k} {v}" for k, v in (("mem", facts.memory_limit), ("pids", facts.pids_limit),
                                                  ("cpus", facts.cpu_limit)) if v) or "none"
        table.add_row(target.name, "[green]ok[/]", facts.arch, "yes" if facts.emulated else "no",
                      facts.os_name or f"{facts.os_id} {facts.os_version}", facts.glibc or "-",
                      facts.package_manager, facts.snapshot or "-", limits, facts.kernel)
    out.print(table)
    for target, facts, reason in results:
        if facts is None:
            out.print(f"[magenta]{target.name} broken:[/] {reason}", highlight=False, soft_wrap=True)
    broken = [t.name for t, f, _ in results if f is None]
    if broken:
        raise InfrastructureError(f"{len(broken)} target(s) broken: {', '.join(broken)}")
