"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path

import typer

Inventory = typer.Option(Path("targets.toml"), "--inventory", "-i", help="the lab's inventory file")


def split_names(value: list[str] | None) -> list[str] | None:
    """Accept ``A B`` as well as ``A,B``."""
    if not value:
        return None
    return [n for v in value for n in v.split(",") if n]
