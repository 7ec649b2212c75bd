"""Suite `install`: the product installs within its limit, and a second install changes nothing.

Its uninstall checks run last of all, in test_uninstall.py.
"""

from __future__ import annotations

import time

import pytest

from lab.deploy.snapshot import leftovers, snapshot
from lab.errors import ProductFailure


@pytest.mark.check("install.package")
def test_installs_with_its_dependencies(lab, target, deployment):
    lab.state["before_install"] = snapshot(target.transport)
    started = time.monotonic()
    try:
        deployment.install()
    except ProductFailure as exc:
        deployment.failure = str(exc)
        raise
    lab.metrics["install_s"] = round(time.monotonic() - started, 2)
    names = ", ".join(s.name for _, s in deployment.steps)
    lab.note(f"installed {names} in {lab.metrics['install_s']} s"
             + (f"; not applicable: {'; '.join(deployment.not_applicable)}" if deployment.not_applicable else ""))


@pytest.mark.check("install.idempotent")
def test_second_install_is_idempotent(lab, target, installed):
    before = snapshot(target.transport)
    installed.reinstall()
    after = lab.state["installed_snapshot"] = snapshot(target.transport)
    changed = [f"+ {p}" for p in leftovers(before, after)] + [f"- {p}" for p in leftovers(after, before)]
    assert not changed, "installing a second time changed the filesystem:\n" + "\n".join(changed[:30])
