"""``lab certificate verify FILE [--artifact PATH] [--key PUBKEY]``: exit 0 valid, 1 invalid, 2 bad input."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.certs.certificate import read, verify
from lab.certs.keys import default_key_path, load_public
from lab.cli import out
from lab.errors import InputError

app = typer.Typer(no_args_is_help=True, help="Check the lab's signed certificates.")


@app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="the certificate (.json)"),
    artifact: Path = typer.Option(None, "--artifact", help="a file that must be one of the certified artifacts"),
    key: Path = typer.Option(None, "--key", help="the lab's public key (PEM); default: this lab's own key"),
) -> None:
    """Check the signature over the certificate's content, its expiry, and the artifact's sha256."""
    data = read(file)
    key_path = key or default_key_path()
    if key is None and not key_path.exists():
        raise InputError(str(key_path), ["no signing key here: give the lab's public key with --key"])
    if artifact is not None and not artifact.is_file():
        raise InputError(str(artifact), ["no such file"])
    result = verify(data, load_public(key_path), artifact)
    c = result.content
    product, target = c.get("product", {}), c.get("target", {})
    what = f"{product.get('name')} {product.get('version')} on {target.get('name')}"
    if result.valid:
        out.print(f"[green]valid[/]: {what}, issued {c.get('issued')} by {c.get('lab')}, expires {c.get('expires')}"
                  + (f"; {artifact.name} is certified" if artifact else ""), highlight=False)
        return
    out.print(f"[red]invalid[/]: {what}", highlight=False)
    for p in result.problems:
        out.print(f"  {p}", highlight=False)
    raise typer.Exit(1)
