"""``lab images build [NAMES]``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from lab.cli.console import out
from lab.cli.options import Inventory, split_names
from lab.errors import InfrastructureError

app = typer.Typer(no_args_is_help=True, help="Build the targets' images locally, without a registry.")


@app.command("build")
def build(
    names: list[str] = typer.Argument(None, help="targets to build (default: every enabled one)"),
    inventory: Path = Inventory,
    force: bool = typer.Option(False, "--force", help="rebuild even when the recipe is unchanged"),
    mirror: str = typer.Option(None, "--mirror", help="Debian mirror URI (default: apt sources)"),
) -> None:
    """Build each target's image from Debian's archive (debootstrap, then the tools layer), and the
    vendor-test runner; an unchanged recipe is not rebuilt. An emulated debootstrap takes minutes."""
    from lab.images.build import build_target
    from lab.inventory import load_inventory

    inv = load_inventory(inventory)
    failed = []
    started = time.monotonic()
    for target in inv.select(split_names(names), given_as="TARGETS"):
        def say(msg: str, name: str = target.name) -> None:
            elapsed = int(time.monotonic() - started)
            out.print(f"[dim]{elapsed // 60:02d}:{elapsed % 60:02d}[/] [cyan]{name}[/]: {msg}", highlight=False)
        try:
            if target.backend == "ssh":  # a board: only a simulated one has an image (target's + sshd)
                if target.ssh.simulated_from:
                    from lab.provision.simulated import board_image

                    say(f"board image {board_image(inv, target, say)} ready")
                else:
                    say("a real board: nothing to build")
                continue
            say(build_target(inv, target, force=force, mirror=mirror, say=say))
        except InfrastructureError as exc:
            say(f"[magenta]broken[/]: {exc}")
            failed.append(target.name)
    if not split_names(names):  # the full set: the vendor-test runner too
        from lab.images.runner import build_runner

        try:
            out.print(f"[cyan]vendor-runner[/]: {build_runner(inv, force=force, say=lambda m: out.print(m))}")
        except InfrastructureError as exc:
            out.print(f"[cyan]vendor-runner[/]: [magenta]broken[/]: {exc}")
            failed.append("vendor-runner")
    if failed:
        raise InfrastructureError(f"not built: {', '.join(failed)}")
