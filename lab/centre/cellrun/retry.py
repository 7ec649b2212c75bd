"""Putting a cell off: its task comes back later, rather than the cell being lost."""

from __future__ import annotations

# How long a task waits before trying a cell again when the API cannot be reached (it may be
# restarting), and how many times: about a day in all; the ledger's sweep covers the rest.
API_RETRY_S = 30
API_RETRIES = 2880


class Retry(Exception):
    """Put the cell off: its task comes back after ``after`` seconds."""

    def __init__(self, why: str, after: float):
        super().__init__(why)
        self.after = after
