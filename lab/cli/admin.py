"""``lab admin``: the service's accounts, on the service host (its database from LAB_DATABASE_URL
or ``.env``).

- ``lab admin org create NAME [--vendor VENDOR]``: a vendor organisation, whose uploads must give
  ``[product] vendor = VENDOR`` (default NAME); ``lab admin org vendor NAME VENDOR`` changes it;
- ``lab admin user create EMAIL --org NAME [--engineer]``: a portal user; the password is asked
  for (hidden, twice) on a terminal, or read from the first line of stdin otherwise;
- ``lab admin token create --org NAME`` / ``--engineer EMAIL``: a new API token, printed once,
  alone on the last line (only its hash is stored);
- ``lab admin token revoke TOKEN_ID``: revoked at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from lab.cli.console import say, shown, visible_errors
from lab.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(no_args_is_help=True, help="The service's accounts: organisations, users, API tokens.")
org_app = typer.Typer(no_args_is_help=True, help="Vendor organisations.")
user_app = typer.Typer(no_args_is_help=True, help="Portal users (a vendor's, or an engineer).")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: shown once, stored as hashes.")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


@contextmanager
def _session() -> Iterator[Session]:
    """A session on the service's database, migrated to the newest schema; committed on success."""
    from sqlalchemy.orm import Session

    from lab.catalogue.db import open_catalogue
    from lab.settings import settings

    engine = open_catalogue(settings().database_url)
    try:
        with visible_errors(), Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@org_app.command("create")
def org_create(name: str = typer.Argument(..., help="the organisation's name, as vendors know it"),
               vendor: str = typer.Option(None, "--vendor", help="the vendor name its submissions give "
                                                                  "([product] vendor); default: NAME")) -> None:
    """Create a vendor organisation; its uploads must name it (or --vendor) as their vendor."""
    from lab.centre.auth import create_org

    with _session() as s:
        org = create_org(s, name, vendor)
        say(f"organisation {shown(org.name)} created (id {org.id}); its submissions give vendor = "
            f"{shown(org.vendor_name)}")


@org_app.command("vendor")
def org_vendor(name: str = typer.Argument(..., help="the organisation's name"),
               vendor: str = typer.Argument(..., help="the vendor name its submissions give from now on")) -> None:
    """Change the vendor name an organisation's uploads must give (certificates already signed keep theirs)."""
    from lab.centre.auth import set_vendor

    with _session() as s:
        org = set_vendor(s, name, vendor)
        say(f"organisation {shown(org.name)}: its submissions give vendor = {shown(org.vendor_name)}")


def _password() -> str:
    if sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InputError("lab admin user", ["password: empty (type it, or give it on stdin's first line)"])
    return password


@user_app.command("password")
def user_password(email: str = typer.Argument(..., help="the user's e-mail address")) -> None:
    """Set a user's password anew (asked for, hidden, or read from stdin); ends the user's sessions
    and lifts the wait after wrong passwords."""
    from lab.centre.auth import reset_password

    password = _password()
    with _session() as s:
        user = reset_password(s, email, password)
        say(f"{shown(user.email)}: a new password is set; the user's sessions are ended")


@user_app.command("create")
def user_create(
    email: str = typer.Argument(..., help="the user's e-mail address: the portal's login"),
    org: str = typer.Option(None, "--org", help="the vendor organisation the user belongs to"),
    engineer: bool = typer.Option(False, "--engineer", help="a lab engineer: reads every submission, publishes"),
) -> None:
    """Create a portal user; the password is asked for (hidden) or read from stdin."""
    from lab.centre.auth import create_user

    if not org and not engineer:
        raise InputError("lab admin user create", ["--org: missing (a vendor's user belongs to an organisation; "
                                                   "an engineer is made with --engineer)"])
    password = _password()
    with _session() as s:
        user = create_user(s, email, password, org=org, engineer=engineer)
        role = "engineer" if user.engineer else "vendor user"
        where = f" of {shown(user.org.name)}" if user.org is not None else ""
        say(f"{role} {shown(user.email)}{where} created (id {user.id}); the password is stored as an argon2 hash")


@token_app.command("create")
def token_create(
    org: str = typer.Option(None, "--org", help="a vendor's token: for this organisation's submissions"),
    engineer: str = typer.Option(None, "--engineer", help="an engineer's token: the engineer's e-mail"),
) -> None:
    """Print a new API token once, alone on the last line; only its hash is stored."""
    from lab.centre.auth import create_token

    if bool(org) == bool(engineer):
        raise InputError("lab admin token create", ["give exactly one of --org NAME and --engineer EMAIL"])
    with _session() as s:
        row, token = create_token(s, org=org, engineer=engineer)
        owner = f"organisation {shown(org)}" if org else f"engineer {shown(engineer)}"
        expires = f", expires {row.expires:%Y-%m-%d}" if row.expires else ""
        say(f"token {shown(row.id)} for {owner}{expires}; revoke it with `lab admin token revoke {shown(row.id)}`")
    say("the token is shown this once (only its hash is stored); give it as `Authorization: Bearer TOKEN`:")
    print(token, flush=True)  # alone and unstyled on the last line, for scripts: `| tail -n1`


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="the token's id, as `token create` printed it")) -> None:
    """Revoke a token at once: the API refuses it from the next request on."""
    from lab.centre.auth import revoke_token

    with _session() as s:
        row = revoke_token(s, token_id)
        say(f"token {shown(row.id)} revoked at {row.revoked:%Y-%m-%d %H:%M:%S %Z}".rstrip())
