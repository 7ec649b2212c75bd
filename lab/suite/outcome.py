"""Whose fault an exception is, as a check outcome (LAVA's taxonomy, Allure's failed vs broken)."""

from __future__ import annotations

from lab.errors import LabError, NotApplicable
from lab.text import trim


def first_message(exc: BaseException) -> str:
    """A failed assert's own message, without pytest's rewritten expression below it."""
    text = str(exc)
    if isinstance(exc, AssertionError) and "\nassert " in text:
        text = text.split("\nassert ", 1)[0]
    return trim(text.strip(), where="the check's evidence")


def classify(exc: BaseException | None, skip_reason: str = "") -> tuple[str, str]:
    """(outcome, message) for the exception a check ended with; None means it passed."""
    if exc is None:
        return ("skipped", skip_reason) if skip_reason else ("passed", "")
    if isinstance(exc, NotApplicable):
        return "skipped", str(exc)
    if isinstance(exc, AssertionError):
        return "failed", first_message(exc) or "assertion failed"
    if isinstance(exc, KeyboardInterrupt):
        return "broken", "run interrupted"
    if isinstance(exc, LabError):  # the lab's own, typed: its message is written for people
        return "broken", first_message(exc)
    return "broken", f"harness error {type(exc).__name__}: {first_message(exc)}"
