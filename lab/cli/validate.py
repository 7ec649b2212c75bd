"""``lab validate SUBMISSION``: every problem of a submission, at once, without running anything.

Everything printed from a submission is the vendor's text: it is escaped, so that ``1[/bogus]`` is
printed as written (never read as rich markup) and no control character reaches the terminal.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from lab.cli.console import EXIT_BAD_INPUT, err, out
from lab.cli.options import Inventory
from lab.errors import InputError
from lab.inventory import load_inventory
from lab.inventory.model import Limits
from lab.submission import load_submission

DEFAULT_INVENTORY = Path("targets.toml")


def validate(submission: Path = typer.Argument(..., help="submission folder, .tar.gz or .zip"),
             inventory: Path = Inventory) -> None:
    """Check a submission (manifest, files, checksums, archive safety) against the lab's limits; exit 0 or 2."""
    try:
        limits = _limits(inventory)
        sub = load_submission(submission, limits)
    except InputError as exc:
        err.print(f"[red]error:[/] {safe(exc.render())}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    try:
        p = sub.model.product
        out.print(f"[green]valid[/]: {safe(p.name)} {safe(p.version)} by {safe(p.vendor)}", highlight=False)
        for art in sub.model.artifacts:
            out.print(f"  {safe(art.path)}  ({art.format})  sha256 {sub.sha256[art.path]}", highlight=False)
    finally:
        sub.cleanup()


def _limits(inventory: Path) -> Limits:
    """The inventory's ``[lab.limits]``; the defaults when the default ``targets.toml`` is not here."""
    if inventory == DEFAULT_INVENTORY and not inventory.exists():
        return Limits()
    return load_inventory(inventory).model.lab.limits


def safe(text: str) -> str:
    """Vendor text for rich: markup escaped, control characters shown as escapes (newlines kept)."""
    shown = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)
    return escape(shown)
