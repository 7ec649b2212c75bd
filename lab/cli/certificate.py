"""``lab certificate verify FILE [--artifact PATH] [--key PUBKEY]``: exit 0 valid, 1 invalid, 2 bad input."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.cli.console import say, shown, visible_errors
from lab.errors import InputError

app = typer.Typer(no_args_is_help=True, help="Check the lab's signed certificates.")


@app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="the certificate (.json)"),
    artifact: Path = typer.Option(None, "--artifact", help="the file you received: it must be byte for byte "
                                                           "one of the certified artifacts"),
    key: Path = typer.Option(None, "--key", help="the lab's public key (PEM); default: this lab's own key"),
) -> None:
    """Check the certificate's structure, then its signature (by the trusted key), expiry and the artifact."""
    from lab.certs.certificate import parse, read, verify
    from lab.certs.keys import default_key_path, load_public

    with visible_errors():
        cert = parse(read(file), str(file))
        key_path = key or default_key_path()
        if key is None and not key_path.exists():
            raise InputError(str(key_path), ["no signing key here: give the lab's public key with --key"])
        if artifact is not None and not artifact.is_file():
            raise InputError(str(artifact), ["no such file"])
        result = verify(cert, load_public(key_path), artifact)
    c = cert.certificate
    what = (f"{shown(c.product.name)} {shown(c.product.version)} by {shown(c.vendor)} "
            f"on {shown(c.target.name)}")
    if not result.valid:
        say(f"[red]invalid[/]: {what}")
        for p in result.problems:
            say(f"  {shown(p)}")
        raise typer.Exit(1)
    lab = cert.raw["certificate"].get("lab")
    say(f"[green]valid[/]: {what}, issued {shown(c.issued)}" + (f" by {shown(lab)}" if lab else "")
        + f", expires {shown(c.expires)}" + (f"; {shown(artifact.name)} is certified" if artifact else ""))
    say(f"  signed by the trusted key {shown(result.trusted)}")
    for w in cert.raw["certificate"].get("waived") or []:
        if isinstance(w, dict):
            say(f"  [cyan]passed with a waiver[/]: {shown(w.get('check'))} failed and was accepted by "
                f"{shown(w.get('reviewer'))} until {shown(w.get('expires'))}: {shown(w.get('reason'))}")
    if artifact is not None:
        say(f"  {shown(artifact.name)} is byte for byte a certified artifact (its sha256 is in the certificate)")
    else:
        say("  [yellow]your own file was not checked[/]: to check that the file you received is byte for byte the "
            f"certified one, run again with --artifact PATH (lab certificate verify {shown(file)} "
            + (f"--key {shown(key)} " if key is not None else "") + "--artifact PATH)")
