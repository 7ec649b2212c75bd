"""``lab gc``: remove what dead runs left behind, found by label."""

from __future__ import annotations

import typer

from lab.cli.console import out
from lab.provision.gc import collect


def gc(
    run: str = typer.Option(None, "--run", help="only this run id (removed even if still running)"),
    everything: bool = typer.Option(False, "--all", help="every lab container, live runs included"),
) -> None:
    """Remove containers of lab runs whose controller process is gone."""
    removed = collect(run, everything=everything)
    out.print(f"removed {len(removed)} container(s)" + (f": {', '.join(removed)}" if removed else ""))
