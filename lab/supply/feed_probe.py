"""Whether the lab's vulnerability feed holds anything, asked without loading SQLAlchemy.

A worker that would only find an empty feed (no catalogue yet, or one into which ``lab vulns
import`` never ran) need not load the database modules at all: a second of CPU, taken while apt
installs on the target. Only a SQLite catalogue is looked into here, read-only; anything this
cannot tell for certain (another database, a file sqlite cannot read) is left to the feed itself,
which says a catalogue it cannot read is the lab's fault.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from lab.catalogue import ENV

TABLE = "vulnerabilities"  # lab.catalogue.models.Vulnerability's table


def feed_url(inv) -> str | None:
    """The catalogue ``lab run`` records into: ``$LAB_CATALOGUE``, ``[lab] catalogue``, else
    reports/catalogue.db beside the inventory (None when that file does not exist yet)."""
    url = os.environ.get(ENV) or inv.model.lab.catalogue
    if url:
        return url
    default = inv.root / "reports" / "catalogue.db"
    return f"sqlite:///{default.resolve()}" if default.exists() else None


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (any driver), else None."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite" or not rest or rest.startswith(":memory:"):
        return None
    if any(c in rest for c in "%?#"):  # escapes, a query (uri=true...): the feed reads it itself
        return None
    return Path("/" + rest.split("?")[0].lstrip("/")) if rest.startswith("/") else Path(rest.split("?")[0])


def known_empty(url: str | None) -> bool:
    """True only when the feed certainly has no record: no catalogue, a SQLite file that does not
    exist, or one without the feed's table or with the table empty."""
    if url is None:
        return True
    path = sqlite_path(url)
    if path is None:
        return False
    if not path.exists():
        return True
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone() is None:
                return True
            return db.execute("SELECT EXISTS (SELECT 1 FROM vulnerabilities)").fetchone()[0] == 0
    except sqlite3.Error:  # damaged or locked: the feed itself decides, and says so
        return False
