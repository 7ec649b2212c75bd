"""What ``lab run`` prints at the end: a check's message is the vendor's text in part (a bundled
component's name, a vendor test's id), so it reaches the terminal with its control characters
made visible, never as escape sequences that drive the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from lab.cli import run as run_cli
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts, reason_of, reduce
from lab.run.finish import Finished


def test_the_summary_shows_control_characters_of_a_reason_visibly(monkeypatch, tmp_path):
    """Review: the summary table used markup escaping only; ``\\x1b[31m`` in a reason reached the terminal."""
    hostile = "bundled component \x1b]0;owned\x07\x1b[31mevil [bold]x[/bold] has no licence"
    checks = [Check(id="supply.licences", outcome="failed", message=hostile)]
    verdict = reduce(checks)
    v = Verdicts(run="20261130-120000-acme-web", submission=SubmissionRef(
        name="acme-web", version="1.0.0", vendor="ACME", artifacts=[ArtifactRef(path="a.tar.gz", sha256="0" * 64)]),
        targets={"debian12-x86_64": TargetResult(verdict=verdict, reason=reason_of(checks, verdict), checks=checks)})
    console = Console(record=True, width=400, force_terminal=True)
    monkeypatch.setattr(run_cli, "out", console)

    class Plan:
        out = Path(tmp_path)

    run_cli._summary(Finished(v), Plan())
    text = console.export_text(styles=True, clear=False)
    assert "\x1b]0" not in text and "\x1b[31mevil" not in text
    plain = console.export_text()
    assert "\\x1b]0;owned" in plain and "[bold]x[/bold]" in plain


def test_checks_broken_for_one_reason_are_counted_and_a_vendors_failures_listed():
    """A target the lab could not start breaks every check it would have run, for the reason the
    next column gives: the summary counts them instead of listing a dozen names."""
    lost = "image lab/x is not built yet"
    broken = TargetResult(verdict="broken", reason=lost, checks=[
        Check(id=f"install.c{i}", outcome="broken", message=lost) for i in range(12)])
    assert run_cli._bad_checks(broken) == "install.c0 and 11 more, broken for the same reason"
    failed = TargetResult(verdict="failed", reason="x", checks=[
        Check(id=f"security.c{i}", outcome="failed", message="x") for i in range(5)])
    assert run_cli._bad_checks(failed) == ", ".join(f"security.c{i}" for i in range(5))
    mixed = TargetResult(verdict="broken", reason=lost, checks=[
        *(Check(id=f"install.c{i}", outcome="broken", message=lost) for i in range(4)),
        Check(id="service.ports", outcome="broken", message="ss is missing")])
    assert "service.ports" in run_cli._bad_checks(mixed) and "more" not in run_cli._bad_checks(mixed)
