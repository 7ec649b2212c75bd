"""``lab validate SUBMISSION``: every problem of a submission, at once, without running anything.

Everything printed from a submission is the vendor's text: it is escaped, so that ``1[/bogus]`` is
printed as written (never read as rich markup) and no control character reaches the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from lab.cli.console import EXIT_BAD_INPUT, err, out
from lab.cli.options import Inventory
from lab.errors import InputError

if TYPE_CHECKING:
    from lab.inventory.load import LoadedInventory

DEFAULT_INVENTORY = Path("targets.toml")


def validate(submission: Path = typer.Argument(..., help="submission folder, .tar.gz or .zip"),
             inventory: Path = Inventory) -> None:
    """Check a submission (manifest, files, checksums, archive safety) against the lab's limits; exit 0 or 2."""
    from lab.inventory.model import LabSettings
    from lab.run.plan import claimed
    from lab.submission import load_for_lab
    from lab.waivers import load_waivers

    try:
        inv = _inventory(inventory)
        waivers = load_waivers(inv) if inv is not None else None  # malformed: refused like the rest
        # the claims name targets of this lab, or the vendor learns it now, with the other problems
        sub = load_for_lab(submission, inv.model.lab if inv else LabSettings(),
                           also=(lambda model: claimed(inv, model)[1]) if inv is not None else None)
    except InputError as exc:
        err.print(f"[red]error:[/] {safe(exc.render())}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    try:
        targets = claimed(inv, sub.model)[0] if inv is not None else []
        p = sub.model.product
        out.print(f"[green]valid[/]: {safe(p.name)} {safe(p.version)} by {safe(p.vendor)}", highlight=False)
        for art in sub.model.artifacts:
            out.print(f"  {safe(art.path)}  ({art.format})  sha256 {sub.sha256[art.path]}", highlight=False)
        if targets:
            out.print(f"  targets: {', '.join(t.name for t in targets)}", highlight=False)
        elif inv is None:  # said, so that a claim of a target no lab has does not look checked
            err.print(f"[yellow]note:[/] claims and targets not checked: no {DEFAULT_INVENTORY} here "
                      "(give the lab's with --inventory FILE); the default limits applied", highlight=False)
        if waivers is not None and waivers.path is not None:
            mine = [w for w in waivers.entries if w.product == p.name]
            out.print(f"  waivers: {len(waivers.entries)} in {safe(str(waivers.path))}, {len(mine)} for this product",
                      highlight=False)
            for warning in waivers.warnings:
                err.print(f"[yellow]waivers:[/] {safe(warning)}", highlight=False)
    finally:
        sub.cleanup()


def _inventory(inventory: Path) -> LoadedInventory | None:
    """The lab's inventory (its limits, its targets); None when the default ``targets.toml`` is not
    here (a vendor checking a submission away from the lab: the default limits apply)."""
    if inventory == DEFAULT_INVENTORY and not inventory.exists():
        return None
    from lab.inventory import load_inventory

    return load_inventory(inventory)


def safe(text: str) -> str:
    """Vendor text for rich: markup escaped, control characters shown as escapes (newlines kept)."""
    shown = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)
    return escape(shown)
