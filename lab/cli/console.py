"""What every command answers with: two consoles (results on stdout, errors on stderr, never wrapped,
so an error line stays whole in logs) and the exit codes. Vendor strings go through ``rich.markup.escape``."""

from __future__ import annotations

import sys

from rich.console import Console

err = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 160)

EXIT_BAD_INPUT = 2  # CONTRACT: bad input, nothing ran
EXIT_BROKEN = 3     # CONTRACT: the lab's fault
