"""What can go wrong in the ledger, as types: the worker API maps them to 404, 409, 410 and 403."""

from __future__ import annotations

from lab.errors import LabError


class LedgerError(LabError):
    """A ledger operation that cannot be done in the cell's present state."""


class UnknownCell(LedgerError):
    """No such cell (the API answers 404)."""


class CellDone(LedgerError):
    """The cell has its final result; it is not claimed or finished again (409)."""


class CellBusy(LedgerError):
    """The cell runs on a live worker, or its board is busy: try again after ``retry_after`` s (409)."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = max(1.0, retry_after)


class AttemptsUsed(LedgerError):
    """The last allowed attempt was lost: the cell is now broken for good (410).

    Raised *after* the ledger recorded that: the caller commits the session before answering."""


class BadCredential(LedgerError):
    """No attempt of this cell was given this credential (403)."""


class Superseded(LedgerError):
    """The credential's attempt is no longer the cell's current one: it was taken over (409)."""
