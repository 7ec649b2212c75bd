"""Cutting long text for people: one rule and one limit for every message, step and evidence.

The head says what started, the tail how it ended (where the error usually is), and the cut says
how much is missing and where the whole of it is kept.

Example::

    trim(output)   # first third + "[... 51234 characters cut: see the command log ...]" + last two thirds
"""

from __future__ import annotations

LIMIT = 4000  # characters of one check message, one step's output, one piece of evidence


def trim(text: str, limit: int = LIMIT, where: str = "the command log") -> str:
    if len(text) <= limit:
        return text
    head, tail = limit // 3, limit - limit // 3
    return f"{text[:head]}\n[... {len(text) - limit} characters cut: see {where} ...]\n{text[-tail:]}"
