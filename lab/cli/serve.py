"""``lab serve``: the centre's web service (the JSON API and the portal) on uvicorn.

``lab serve [--host 127.0.0.1] [--port 8400] [--public]`` runs in the foreground, as a process
manager (systemd, a container) wants it. It migrates the database first, so a new release's
tables are there before the first request.

``lab serve --background`` is what ``./labw serve`` runs: the whole service on this machine
(PostgreSQL and RabbitMQ under ``.lab/state``, the database migrated, the API and one worker in
the background, the settings in ``.env``), returning once the portal answers; ``lab serve --stop``
stops what it started, and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from lab.cli.console import err, out
from lab.errors import InputError
from lab.loopback import is_loopback


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback unless --public)"),
    port: int = typer.Option(8400, "--port", min=1, max=65535, help="port to listen on"),
    public: bool = typer.Option(False, "--public", help="allow a non-loopback --host (put TLS in front of it)"),
    background: bool = typer.Option(False, "--background", help="bring the whole one-machine service up in "
                                    "the background (PostgreSQL, RabbitMQ, the API, a worker) and return"),
    stop: bool = typer.Option(False, "--stop", help="stop what --background started, and nothing else"),
) -> None:
    """Run the web service: the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json) and the portal."""
    if background and stop:
        raise InputError("lab serve", ["--background and --stop: give one of them"])
    if stop:
        _stop()
        return
    if not is_loopback(host) and not public:
        raise InputError("lab serve", [
            f"--host {host}: not a loopback address. The service speaks plain HTTP: vendors' tokens, "
            "portal passwords and uploads would cross the network in clear, and its workers' endpoints "
            "would be open to that network. Keep it on 127.0.0.1 behind a TLS reverse proxy "
            "(docs/service.md), or give --public to listen there anyway"])
    if background:
        if not is_loopback(host):
            raise InputError("lab serve", ["--background runs the one-machine service on 127.0.0.1 only; "
                                           "drop --host"])
        _background(port)
        return
    _foreground(host, port)


def _foreground(host: str, port: int) -> None:
    import uvicorn

    from lab.catalogue.db import open_catalogue
    from lab.settings import settings

    s = settings()
    s.storage.mkdir(parents=True, exist_ok=True)
    open_catalogue(s.database_url).dispose()  # migrated before the first request
    err.print(f"lab serve: the portal on http://{escape(host)}:{port}/ (database "
              f"{escape(s.database_url.split('@')[-1])}, storage {escape(str(s.storage.resolve()))})",
              highlight=False)
    uvicorn.run("lab.centre.api:create_app", factory=True, host=host, port=port, log_level="info")


def _progress(msg: str) -> None:
    err.print(f"[cyan]\\[serve][/] {escape(msg)}", highlight=False)


def _background(port: int) -> None:
    from lab.centre.up import up

    started = up(Path.cwd(), port=port, say=_progress)
    health = started.health
    out.print("\nsettings (in " + escape(str(started.env_file)) + ", read by every `lab` command run here):",
              highlight=False)
    from lab.centre.up import SECRET_KEYS

    for key, value in started.settings.items():
        shown = "(a secret, in .env: give it to every worker host)" if key in SECRET_KEYS else value
        out.print(f"  {key}={escape(shown)}", highlight=False, soft_wrap=True)
    out.print("\nprocesses:", highlight=False)
    for name, (pid, now) in started.processes.items():
        out.print(f"  {name}: pid {pid}{'' if now else ' (already running)'}", highlight=False)
    out.print("\nlogs:", highlight=False)
    for name, path in started.logs.items():
        out.print(f"  {name}: {escape(str(path))}", highlight=False)
    out.print(f"\nhealth: {escape(_health_line(health))}", highlight=False)
    out.print(f"portal: [bold]{escape(started.portal)}[/]", highlight=False)
    out.print("next: `./labw admin org create NAME [--vendor VENDOR]`, then `./labw admin user create EMAIL "
              "--org NAME` and `./labw admin token create --org NAME`; stop with `./labw serve --stop`",
              highlight=False, soft_wrap=True)


def _health_line(health: dict) -> str:
    parts = [f"{k}={v if not isinstance(v, dict) else v.get('status', v)}" for k, v in health.items()]
    return ", ".join(parts)


def _stop() -> None:
    from lab.centre.up import down

    down(Path.cwd(), say=_progress)
