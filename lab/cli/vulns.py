"""``lab vulns import``: vulnerability records in the OSV format into the lab's database."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from lab.cli.console import say, shown, visible_errors
from lab.cli.options import Inventory

app = typer.Typer(no_args_is_help=True, help="The lab's offline vulnerability feed (OSV records).")


@app.command("import")
def import_cmd(paths: list[Path] = typer.Argument(..., help="OSV record files (.json), folders of them, or .zip"),
               catalogue: str = typer.Option(None, "--catalogue", help="SQLAlchemy URL (the one lab run takes)"),
               inventory: Path = Inventory) -> None:
    """Import every record, or none when one is malformed (each bad file and field named, exit 2).
    Then says which recorded certificates the new records affect (the buyers' matrix flags them)."""
    from lab.catalogue.db import open_for
    from lab.inventory import load_inventory
    from lab.supply.osv import import_records, read_paths
    from lab.supply.stored import affected_results

    with visible_errors():
        inv = load_inventory(inventory)
        started = time.monotonic()
        records = read_paths(paths)
        engine = open_for(inv, catalogue)
        ids = import_records(engine, records)
        took = time.monotonic() - started
        say(f"imported {len(ids)} record(s) from {len(paths)} path(s) in {took:.2f} s")
        hits = affected_results(engine, set(ids)) if ids else {}
    if hits:
        from sqlalchemy.orm import Session

        from lab.catalogue.models import Result

        with Session(engine) as s:
            for rid, found in sorted(hits.items()):
                r = s.get(Result, rid)
                if r is None or r.certificate is None:
                    continue
                names = ", ".join(sorted({f.record for f in found}))
                say(f"certificate {shown(r.certificate.id)} is affected by {shown(names)}")
