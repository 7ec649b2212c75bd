"""Suite `install`, last part: uninstall/purge succeeds and leaves nothing behind."""

from __future__ import annotations

import pytest

from lab.deploy.snapshot import leftovers, snapshot
from lab.errors import NotApplicable


@pytest.mark.check("install.uninstall")
def test_uninstall_succeeds(lab, installed):
    installed.uninstall()
    lab.state["uninstalled"] = True


@pytest.mark.check("install.leftovers")
def test_nothing_left_behind_after_purge(lab, target):
    if not lab.state.get("uninstalled"):
        raise NotApplicable("needs a successful install.uninstall")
    left = leftovers(lab.state["before_install"], snapshot(target.transport))
    shown = "\n".join(f"  {p}" for p in left[:50]) + (f"\n  ... {len(left) - 50} more" if len(left) > 50 else "")
    assert not left, f"{len(left)} path(s) left behind after uninstall/purge:\n{shown}"
