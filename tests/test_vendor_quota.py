"""The vendor-test runner's disk quota: the install's watch (``lab.observe.quota``), measuring and
stopping the runner instead of a target's processes. Docker is faked: what matters here is that a
breach stops the runner and is named as the vendor tests' doing, and that a runner gone from
outside never crashes the watch's thread."""

from __future__ import annotations

import time

import pytest
from docker.errors import APIError

from lab.errors import InfrastructureError
from lab.observe import quota
from lab.observe.quota import DiskWatch, disk_watch
from lab.suite import vendor
from lab.suite.vendor import RunnerDisk


class FakeRunner:
    """A runner that writes 40 MiB a look until it is killed."""

    def __init__(self):
        self.written = 0
        self.kills = 0

    def kill(self):
        if self.kills:
            raise APIError("409 Client Error: container is not running")
        self.kills += 1


@pytest.fixture
def runner(monkeypatch):
    fake = FakeRunner()

    def measure(container):
        assert container is fake
        if not fake.kills:
            fake.written += 40 << 20
        return fake.written
    monkeypatch.setattr(vendor, "written_bytes", measure)
    monkeypatch.setattr(quota, "POLL_S", 0.01)
    return fake


def test_a_runner_past_the_quota_is_stopped_and_the_vendor_tests_are_named(runner):
    with disk_watch(RunnerDisk(runner), 64 << 20, "the vendor-test runner", what="the vendor tests",
                    stopped="the runner") as watch:
        deadline = time.monotonic() + 5
        while not runner.kills and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # the watch keeps looking after the kill; a second kill must not raise
    assert runner.kills == 1
    assert watch.breached_at == 80 << 20  # the first look past 64 MiB
    assert watch.message == ("the vendor tests wrote 80.0 MiB on the vendor-test runner, above its disk quota of "
                             "64.0 MiB ([lab.limits] disk_quota); the lab stopped the runner")


def test_a_runner_within_the_quota_is_left_alone(runner):
    with disk_watch(RunnerDisk(runner), 1 << 40, "the vendor-test runner") as watch:
        time.sleep(0.05)
    assert runner.kills == 0 and watch.breached_at is None


def test_a_runner_gone_from_outside_neither_measures_nor_raises(monkeypatch):
    def gone(container):
        raise InfrastructureError("container 0123456789ab is gone: cannot measure what it wrote")
    monkeypatch.setattr(vendor, "written_bytes", gone)

    class Removed:
        def kill(self):
            raise APIError("404 Client Error: No such container")
    disk = RunnerDisk(Removed())
    assert disk.written_bytes() == 0
    assert disk.kill_new() == 0


def test_the_install_is_still_named_as_before():
    watch = DiskWatch(object(), 64 << 20, "debian12-x86_64")
    assert watch.check(100 << 20)
    assert watch.message == ("the install wrote 100.0 MiB on debian12-x86_64, above its disk quota of 64.0 MiB "
                             "([lab.limits] disk_quota); the lab stopped the product's processes")
