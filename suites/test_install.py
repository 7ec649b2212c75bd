"""Suite `install`: the product installs within its limits, and a second install changes nothing.

Its uninstall checks run last of all, in test_uninstall.py. What the install changed is read by
the lab from outside the target (see ``lab.observe``), before and after.
"""

from __future__ import annotations

import time

import pytest

from lab.errors import ProductFailure
from lab.observe.quota import disk_watch
from lab.observe.state import created


@pytest.mark.check("install.package")
def test_installs_with_its_dependencies(lab, target, deployment):
    observer = target.observer()

    def before_product():
        """What the install is judged against: the target with the OS packages the product depends
        on already in (their own scripts' files, an /etc/inputrc, are the OS's), the product not yet."""
        lab.state.before_install = observer.state()
        lab.state.passwd_before = observer.read("/etc/passwd")

    started = time.monotonic()
    with disk_watch(observer, lab.inventory.model.lab.limits.disk_quota_bytes, target.target.name) as watch:
        try:
            deployment.install(before_product)
        except ProductFailure as exc:
            deployment.failure = watch.message if watch.breached_at else str(exc)
            raise ProductFailure(deployment.failure) from None
        after = lab.state.installed = observer.state()
        if watch.check(after.written_bytes):
            deployment.installed = False
            deployment.failure = watch.message
            raise ProductFailure(watch.message)
    lab.metrics["install_s"] = round(time.monotonic() - started, 2)
    names = ", ".join(s.name for _, s in deployment.steps)
    lab.note(f"installed {names} in {lab.metrics['install_s']} s"
             + (f"; not applicable: {'; '.join(deployment.not_applicable)}" if deployment.not_applicable else ""))


@pytest.mark.check("install.idempotent")
def test_second_install_is_idempotent(lab, target, installed):
    observer = target.observer()
    before = observer.state()
    installed.reinstall()
    after = lab.state.installed = observer.state()
    changed = [f"+ {p}" for p in created(before, after)] + [f"- {p}" for p in created(after, before)]
    assert not changed, "installing a second time changed the filesystem:\n" + "\n".join(changed[:30])
