"""``lab report DIR``: render a run's Allure HTML report to DIR/report/index.html."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.cli.console import out
from lab.cli.options import Inventory


def report(
    folder: Path = typer.Argument(..., help="a run's results folder (with verdicts.json)"),
    history: Path = typer.Option(None, "--history", help="per-product Allure history (default: reports/history "
                                 "for a run in ./reports, else DIR/history)"),
    inventory: Path = Inventory,
) -> None:
    """Render the run's Allure report (one self-contained HTML file that opens offline) and its test
    report for people, report/report.pdf (the centre's name and language from the inventory)."""
    from lab.report.pdf import lab_settings
    from lab.report.render import render

    index = render(folder, history, lab=lab_settings(inventory))
    out.print(f"report: {index}\nfor people (PDF): {index.parent / 'report.pdf'}", highlight=False)
