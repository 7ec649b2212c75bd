"""``lab catalogue publish`` and ``lab catalogue record``."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.catalogue.db import open_catalogue
from lab.catalogue.publish import publish
from lab.catalogue.record import record_run
from lab.cli import out
from lab.cli.options import Inventory
from lab.inventory import load_inventory

app = typer.Typer(no_args_is_help=True, help="The catalogue of every run, and the buyers' site.")
Catalogue = typer.Option(None, "--catalogue", help="SQLAlchemy URL (default: SQLite reports/catalogue.db)")


def _signing_key(inv) -> Path | None:
    return Path(inv.model.lab.signing_key).expanduser() if inv.model.lab.signing_key else None


@app.command("publish")
def publish_cmd(out_dir: Path = typer.Option(Path("reports/site"), "--out", help="where the site is written"),
                catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Render the buyers' site: the matrix, product pages, certificates, reports, matrix.json."""
    inv = load_inventory(inventory)
    engine = open_catalogue(catalogue or inv.model.lab.catalogue, inv.root / "reports" / "catalogue.db")
    out.print(f"site: {publish(engine, out_dir, inv.model.lab.name, _signing_key(inv))}", highlight=False)


@app.command("record")
def record_cmd(runs: list[Path] = typer.Argument(..., help="run folders (with verdicts.json)"),
               catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Record finished runs (lab run does this itself; this is for runs made elsewhere)."""
    inv = load_inventory(inventory)
    engine = open_catalogue(catalogue or inv.model.lab.catalogue, inv.root / "reports" / "catalogue.db")
    for run in runs:
        out.print(f"recorded {record_run(engine, run)}", highlight=False)
