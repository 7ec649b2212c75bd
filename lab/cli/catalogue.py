"""``lab catalogue publish`` and ``lab catalogue record``."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.catalogue.db import open_for
from lab.catalogue.publish import publish
from lab.catalogue.record import record_run
from lab.certs.keys import key_path
from lab.cli import out
from lab.cli.options import Inventory
from lab.inventory import load_inventory

app = typer.Typer(no_args_is_help=True, help="The catalogue of every run, and the buyers' site.")
Catalogue = typer.Option(None, "--catalogue", help="SQLAlchemy URL (default: SQLite reports/catalogue.db)")


@app.command("publish")
def publish_cmd(out_dir: Path = typer.Option(Path("reports/site"), "--out", help="where the site is written"),
                catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Render the buyers' site: the matrix, product pages, certificates, reports, matrix.json."""
    inv = load_inventory(inventory)
    site = publish(open_for(inv, catalogue), out_dir, inv.model.lab.name, key_path(inv.model.lab.signing_key))
    out.print(f"site: {site}", highlight=False)


@app.command("record")
def record_cmd(runs: list[Path] = typer.Argument(..., help="run folders (with verdicts.json)"),
               catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Record finished runs (lab run does this itself; this is for runs made elsewhere)."""
    inv = load_inventory(inventory)
    engine = open_for(inv, catalogue)
    for run in runs:
        out.print(f"recorded {record_run(engine, run)}", highlight=False)
