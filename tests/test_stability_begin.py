"""Whether the stability watch can begin: a service that stopped on its own after it was ready is
the product's failure, never "not applicable" (which let a service that died there be certified
without a watch); after a failed service.restart it is that check's failure already."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lab.errors import NotApplicable, ProductFailure
from lab.stability.background import begin


def lab_with(restart: str | None):
    checks = [SimpleNamespace(id="service.restart", outcome=restart)] if restart else []
    return SimpleNamespace(state=SimpleNamespace(readiness=SimpleNamespace(ready=True)), checks=checks)


def gone():
    return SimpleNamespace(alive=lambda: False, log_tail=lambda: "memcached: killed")


def test_a_service_gone_after_its_last_start_fails_the_watch():
    with pytest.raises(ProductFailure, match=r"(?s)no longer running when the watch began.*memcached: killed"):
        begin(lab_with("passed"), None, gone())


def test_after_a_failed_restart_the_watch_does_not_apply():
    with pytest.raises(NotApplicable, match=r"see service\.restart"):
        begin(lab_with("failed"), None, gone())
    not_ready = SimpleNamespace(state=SimpleNamespace(readiness=SimpleNamespace(ready=False)), checks=[])
    with pytest.raises(NotApplicable, match=r"service\.ready failed"):
        begin(not_ready, None, gone())
