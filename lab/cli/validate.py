"""``lab validate SUBMISSION``: every problem of a submission, at once, without running anything."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.cli import out
from lab.submission import load_submission


def validate(submission: Path = typer.Argument(..., help="submission folder, .tar.gz or .zip")) -> None:
    """Check a submission (manifest, files, checksums, archive safety); exit 0 or 2."""
    sub = load_submission(submission)
    try:
        p = sub.model.product
        out.print(f"[green]valid[/]: {p.name} {p.version} by {p.vendor}", highlight=False)
        for art in sub.model.artifacts:
            out.print(f"  {art.path}  ({art.format})  sha256 {sub.sha256[art.path]}", highlight=False)
    finally:
        sub.cleanup()
