"""The ``lab`` command. Only this package turns typed errors into messages and exit codes."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from lab.cli.console import EXIT_BAD_INPUT, EXIT_BROKEN, err, out
from lab.errors import InfrastructureError, InputError, LabError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Adaptation Lab: certify vendor software on OS, CPU and database targets.")


__all__ = ["EXIT_BAD_INPUT", "EXIT_BROKEN", "app", "err", "main", "out"]


def _register() -> None:
    from lab.cli import admin, boards, catalogue, certificate, gc, images, report, run, serve, targets, validate, worker
    from lab.cli.recertify import recertify as recertify_command

    app.command("validate")(validate.validate)
    app.command("run")(run.run)
    app.command("recertify")(recertify_command)
    app.command("report")(report.report)
    app.add_typer(targets.app, name="targets")
    app.add_typer(certificate.app, name="certificate")
    app.add_typer(catalogue.app, name="catalogue")
    app.add_typer(boards.app, name="boards")
    app.add_typer(images.app, name="images")
    app.command("gc")(gc.gc)
    app.command("serve")(serve.serve)
    app.command("worker")(worker.worker)
    app.add_typer(admin.app, name="admin")
    from lab.cli import vulns

    app.add_typer(vulns.app, name="vulns")


def main() -> None:
    _register()
    try:
        rc = app(standalone_mode=False)  # a typer.Exit inside comes back as its code
        sys.exit(rc if isinstance(rc, int) else 0)
    except InputError as exc:
        err.print(f"[red]error:[/] {escape(exc.render())}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_BAD_INPUT)
    except InfrastructureError as exc:
        err.print(f"[magenta]broken:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_BROKEN)
    except LabError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except USAGE_ERRORS as exc:  # a bad option or argument: bad input, like a bad file
        show = getattr(exc, "show", None)
        show() if show else err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_BAD_INPUT)


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Typer's own usage errors, and click's where this typer still uses click."""
    found: list[type[BaseException]] = [typer.exceptions.TyperException]
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


USAGE_ERRORS = _usage_errors()
