"""``lab certificate verify FILE [--artifact PATH] [--key PUBKEY]``: exit 0 valid, 1 invalid, 2 bad input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from lab.certs.certificate import parse, read, verify
from lab.certs.keys import default_key_path, load_public
from lab.cli.console import out
from lab.errors import InfrastructureError, InputError

app = typer.Typer(no_args_is_help=True, help="Check the lab's signed certificates.")


def visible(value: object) -> str:
    """Control characters (an escape sequence, a bidi override) made visible: ``\\x1b``."""
    return "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   for c in str(value))


def shown(value: object) -> str:
    """Text from a vendor or a file, for rich: control characters made visible, markup escaped."""
    return escape(visible(value))


def say(markup: str) -> None:
    """Print a line whose vendor parts went through ``shown``: no emoji codes, no re-wrapping."""
    out.print(markup, highlight=False, emoji=False, soft_wrap=True)


@contextmanager
def visible_errors() -> Iterator[None]:
    """Errors carry vendor text too: the CLI's printer escapes their markup; this makes their
    control characters visible first, so a certificate cannot drive the terminal."""
    try:
        yield
    except InputError as exc:
        raise InputError(visible(exc.source), [visible(p) for p in exc.problems]) from None
    except InfrastructureError as exc:
        raise InfrastructureError(visible(exc)) from None


@app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="the certificate (.json)"),
    artifact: Path = typer.Option(None, "--artifact", help="the file you received: it must be byte for byte "
                                                           "one of the certified artifacts"),
    key: Path = typer.Option(None, "--key", help="the lab's public key (PEM); default: this lab's own key"),
) -> None:
    """Check the certificate's structure, then its signature (by the trusted key), expiry and the artifact."""
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
            "--artifact PATH)")
