"""``lab catalogue publish``, ``lab catalogue record`` and ``lab catalogue transfer``."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.cli.console import say, shown, visible_errors
from lab.cli.options import Inventory

app = typer.Typer(no_args_is_help=True, help="The catalogue of every run, and the buyers' site.")
Catalogue = typer.Option(None, "--catalogue", help="SQLAlchemy URL (default: SQLite reports/catalogue.db)")


@app.command("publish")
def publish_cmd(out_dir: Path = typer.Option(Path("reports/site"), "--out", help="where the site is written"),
                catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Render the buyers' site: the matrix, product pages, certificates, reports, matrix.json."""
    from lab.catalogue.db import open_for
    from lab.catalogue.publish import publish
    from lab.certs.keys import key_path
    from lab.inventory import load_inventory

    with visible_errors():
        inv = load_inventory(inventory)
        site = publish(open_for(inv, catalogue), out_dir, inv.model.lab.name, key_path(inv.model.lab.signing_key),
                       targets=inv.model.targets, languages=inv.model.lab.languages)
    say(f"site: {shown(site)}")


@app.command("record")
def record_cmd(runs: list[Path] = typer.Argument(..., help="run folders (with verdicts.json)"),
               catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Record finished runs (lab run does this itself; this is for runs made elsewhere)."""
    from lab.catalogue.db import open_for
    from lab.catalogue.record import record_run
    from lab.inventory import load_inventory

    with visible_errors():
        inv = load_inventory(inventory)
        engine = open_for(inv, catalogue)
        for run in runs:
            say(f"recorded {shown(record_run(engine, run))}")


@app.command("transfer")
def transfer_cmd(product: str = typer.Argument(..., help="the product's name, as in the catalogue"),
                 to: str = typer.Option(..., "--to", help="the vendor that owns it from now on"),
                 new: bool = typer.Option(False, "--new", help="also a name the catalogue has not recorded yet"),
                 catalogue: str = Catalogue, inventory: Path = Inventory) -> None:
    """Give a product to another vendor: from now on only its runs are recorded (the transfer is kept)."""
    from lab.catalogue.db import open_for
    from lab.catalogue.record import transfer_product
    from lab.inventory import load_inventory

    with visible_errors():
        inv = load_inventory(inventory)
        t = transfer_product(open_for(inv, catalogue), product, to, new=new)
    was = f"from {shown(t.from_vendor)}" if t.from_vendor else "(not in the catalogue before: its name is now theirs)"
    say(f"{shown(product)}: transferred {was} to {shown(t.to_vendor)} at {shown(t.at)}"
        + (f" by {shown(t.by)}" if t.by else ""))
