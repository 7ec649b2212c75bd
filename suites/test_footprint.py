"""Suite `footprint`: what the product costs a target, recorded as metrics in verdicts.json."""

from __future__ import annotations

import shlex

import pytest

from lab.observe.quota import human_size


@pytest.mark.check("footprint.installed_size")
def test_installed_size(lab, target, installed):
    packaged = sum(m.size for _, s in installed.steps for m in s.contents.members if s.contents.package)
    prefixes = " ".join(shlex.quote(p) for p in installed.prefixes())
    on_disk = 0
    if prefixes:
        out = target.transport.run(f"du -sb {prefixes} | awk '{{s+=$1}} END {{print s}}'").stdout.strip()
        on_disk = int(out or 0)
    lab.metrics["installed_bytes"] = packaged + on_disk
    lab.note(f"{human_size(packaged + on_disk)} installed")  # "272 bytes", not "0 KiB"


@pytest.mark.check("footprint.service")
def test_service_footprint(lab, service):
    ready = lab.state.readiness
    if not ready.ready:
        pytest.skip("needs a ready service (see service.ready)")
    lab.metrics["ready_s"] = round(ready.seconds, 2)
    lab.metrics["service_rss_kb"] = service.rss_kb()
    lab.note(f"ready in {ready.seconds:.2f} s, RSS {lab.metrics['service_rss_kb']} KiB")
