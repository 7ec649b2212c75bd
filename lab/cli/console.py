"""What every command answers with: two consoles (results on stdout, errors on stderr, never wrapped,
so an error line stays whole in logs) and the exit codes. Vendor strings go through ``rich.markup.escape``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from lab.errors import InfrastructureError, InputError
from lab.text import written_out

err = Console(stderr=True, soft_wrap=True)
# Piped or logged: 160 columns, unless the caller says how wide (COLUMNS, which rich reads itself).
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160)

EXIT_BAD_INPUT = 2  # CONTRACT: bad input, nothing ran
EXIT_BROKEN = 3     # CONTRACT: the lab's fault


def visible(value: object) -> str:
    """Control characters (an escape sequence, a bidi override) made visible: ``\\x1b``."""
    return "".join(c if c.isprintable() else written_out(c) for c in str(value))


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
