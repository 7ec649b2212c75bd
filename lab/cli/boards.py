"""``lab boards up|down [NAMES]``: the simulated boards of this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.cli.console import out
from lab.cli.options import Inventory, split_names

app = typer.Typer(no_args_is_help=True, help="Start and stop the simulated boards (sshd on 127.0.0.1).")


@app.command("up")
def up(names: list[str] = typer.Argument(None, help="boards (default: every simulated one)"),
       inventory: Path = Inventory,
       force: bool = typer.Option(False, "--force", help="restart boards that are already up")) -> None:
    """Start each simulated board: its image plus sshd, published on 127.0.0.1, host key pinned."""
    from lab.inventory import load_inventory
    from lab.provision import simulated

    inv = load_inventory(inventory)
    for board in simulated.simulated(inv, split_names(names)):
        def say(msg: str, name: str = board.name) -> None:
            out.print(f"[cyan]{name}[/]: {msg}", highlight=False)
        say(simulated.up(inv, board, say, force=force))


@app.command("down")
def down(names: list[str] = typer.Argument(None, help="boards (default: every simulated one)"),
         inventory: Path = Inventory) -> None:
    """Stop and remove the simulated boards."""
    from lab.inventory import load_inventory
    from lab.provision import simulated

    inv = load_inventory(inventory)
    for board in simulated.simulated(inv, split_names(names)):
        out.print(f"[cyan]{board.name}[/]: {simulated.down(board)}", highlight=False)
