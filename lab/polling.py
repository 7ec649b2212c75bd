"""Waiting on a target: look again soon, then less often.

A service that is ready 5 ms after its start, or gone 1 ms after SIGKILL, was found so only at the
next fixed 0.2 s poll; ten kill-and-restart rounds spent most of their time asleep. Each look is
one command through the persistent shell (about a millisecond in a container), so the first looks
come quickly and the pace slows to the old fixed one for whatever takes longer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

FIRST_S = 0.005


def pauses(most: float, first: float = FIRST_S) -> Iterator[float]:
    """Sleeps of ``first``, doubling, up to ``most`` (then ``most`` for ever)."""
    pause = first
    while True:
        yield min(pause, most)
        pause *= 2


class Backoff:
    """``wait()`` sleeps the next pause: ``for`` loops that look, then wait."""

    def __init__(self, most: float, first: float = FIRST_S):
        self._pauses = pauses(most, first)

    def wait(self) -> None:
        time.sleep(next(self._pauses))
