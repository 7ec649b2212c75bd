"""The vendor's reference lists what the lab checks: every check id of the registry is in the table
of docs/submission.md (new user: package.abi, supply.*, database.* and desktop.* were missing,
though docs/results.md sends readers there for the check ids)."""

from __future__ import annotations

import re

from lab.suite import registry
from tests.conftest import ROOT


def test_every_check_is_in_the_submission_docs_table():
    text = (ROOT / "docs/submission.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    named = {cid for row in rows for cid in re.findall(r"`([a-z_]+\.[a-z_]+)`", row.split(" | ")[0])}
    missing = sorted(set(registry.CHECKS) - named)
    assert not missing, f"checks missing from docs/submission.md's table: {missing}"
