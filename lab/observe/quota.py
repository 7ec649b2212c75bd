"""The target's disk quota, watched from the host while vendor code runs.

overlay2 on ext4 cannot cap a container's writable layer, so the controller measures what the
target wrote (its upper folder) every second while the product's install runs, and stops every
process the vendor started the moment the quota is passed: the install then fails, naming the
quota, before the lab's own disk fills. The vendor-test runner is watched the same way while the
vendor's tests run (``lab.suite.vendor``), with its own measure and kill.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from lab.observe.state import Observer

POLL_S = 1.0


def human_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


class DiskWatch:
    """``observer``: anything with ``written_bytes()`` and ``kill_new()`` (an ``Observer`` of a
    target, or the runner's own); ``what`` wrote, and what the lab ``stopped``, are named in the
    message."""

    def __init__(self, observer: Observer, quota: int, target: str, what: str = "the install",
                 stopped: str = "the product's processes"):
        self.observer = observer
        self.quota = quota
        self.target = target
        self.what = what
        self.stopped = stopped
        self.breached_at: int | None = None
        self._stop = threading.Event()

    @property
    def message(self) -> str:
        return (f"{self.what} wrote {human_size(self.breached_at or 0)} on {self.target}, above its disk quota of "
                f"{human_size(self.quota)} ([lab.limits] disk_quota); the lab stopped {self.stopped}")

    def check(self, written: int) -> bool:
        if written > self.quota and self.breached_at is None:
            self.breached_at = written
        return self.breached_at is not None

    def _loop(self) -> None:
        measure = getattr(self.observer, "written_bytes", None)
        kill = getattr(self.observer, "kill_new", None)
        if measure is None:  # a board: only its own tools see its disk; checked after each step
            return
        while not self._stop.wait(POLL_S):
            if self.check(measure()) and kill is not None:
                kill()


@contextlib.contextmanager
def disk_watch(observer: Observer, quota: int, target: str, what: str = "the install",
               stopped: str = "the product's processes") -> Iterator[DiskWatch]:
    watch = DiskWatch(observer, quota, target, what, stopped)
    thread = threading.Thread(target=watch._loop, name="disk-quota", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        watch._stop.set()
        thread.join(timeout=5)
