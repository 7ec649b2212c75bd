"""The stability sampler's command, run through the lab's shell protocol by a real ``sh`` on this
machine's ``/proc``: a live session is seen alive; a ``/proc`` the lab cannot read is the lab's
fault (*broken*), not a service that died; a swamped target is the product's (*failed*)."""

from __future__ import annotations

import subprocess

import pytest

from lab.errors import InfrastructureError, ProductFailure
from lab.stability import sampler
from tests.test_upgrade_checksums import LocalShellTransport

MARK = "0123456789abcdef"  # no process carries it: the session alone makes the tree


class UnreadableProc(LocalShellTransport):
    """The same shell, with every path under /proc pointing where nothing is (a lab fault injected)."""

    def _run(self, command, timeout):
        return super()._run(command.replace("/proc/", "/nonexistent-proc/"), timeout)


@pytest.fixture
def session():
    proc = subprocess.Popen(["setsid", "sleep", "300"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_live_session_is_sampled_alive(session):
    t = LocalShellTransport()
    try:
        s = sampler.sample(t, session, 0.0, 100, MARK)
    finally:
        t.close()
    assert s.leader_alive and s.pids == [session] and s.rss_kb > 0


def test_an_unreadable_proc_is_the_labs_fault_not_a_death(session):
    """Review: before, an empty sample read as the service gone: stability.uptime *failed*."""
    t = UnreadableProc()
    try:
        with pytest.raises(InfrastructureError) as exc:
            sampler.sample(t, session, 12.0, 100, MARK)
    finally:
        t.close()
    assert "/proc cannot be read to sample the service at 12 s" in str(exc.value)


def test_a_sample_that_cannot_finish_is_the_products_failure(session, monkeypatch):
    """A target swamped by the service or its load command (here: a sample given 1 s that sleeps 5)."""
    monkeypatch.setattr(sampler, "SAMPLE_TIMEOUT", 1.0)
    monkeypatch.setattr(sampler, "SCRIPT", "sleep 5; " + sampler.SCRIPT)
    t = LocalShellTransport()
    try:
        with pytest.raises(ProductFailure) as exc:
            sampler.sample(t, session, 30.0, 100, MARK)
    finally:
        t.close()
    assert "took longer than 1 s at 30 s into the watch" in str(exc.value)


def test_a_services_log_is_read_back_bounded_with_the_cut_said(tmp_path):
    """Review: the stability suite read its load command's and restarts' logs whole (``get_bytes``)
    into the controller; a load writing for hours can leave gigabytes. ``log_end`` keeps the end."""
    from lab.service import Supervisor
    from lab.submission.model import Service

    t = LocalShellTransport()
    t.output_max_bytes = 64 << 10
    try:
        sup = Supervisor(t, Service(command="true"))
        sup.log_file = str(tmp_path / "load.log")
        assert sup.log_end() == b""  # no log yet
        (tmp_path / "load.log").write_bytes(b"x" * (3 << 20) + b"the last line\n")
        end = sup.log_end()
    finally:
        t.close()
    assert len(end) <= t.output_max_bytes
    assert end.startswith(b"[... the first ") and b"bytes cut by the lab ...]" in end
    assert end.endswith(b"the last line\n")
