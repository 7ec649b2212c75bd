"""The stability watch, run in the background while the checks that read only files go on.

A watch is mostly waiting (a sample a second for the whole duration), and the ``package``,
``supply`` and ``desktop`` checks look at the installed files and nothing of the service, so they
run meanwhile (``lab.suite.registry.DURING_WATCH``) and the watch costs what is left of its
duration when they are done. Each sample is one command on the target through the transport,
which gives every thread its own shell; the samples' commands are kept apart from the check that
happens to run meanwhile and become ``stability.uptime``'s evidence.

Example::

    watching = begin(lab, transport, service)    # returns at once
    ...                                           # other checks
    series = watching.result()                   # waits for the rest of the watch
"""

from __future__ import annotations

import shlex
import threading
import time

from lab.errors import NotApplicable, ProductFailure
from lab.service import HOME, Supervisor
from lab.stability.sampler import Series, watch
from lab.submission.model import watch_seconds
from lab.suite.database import database_env
from lab.transport.base import Transport, redact

LOAD_LOG = f"{HOME}/stability-load.log"
THREAD = "stability-watch"


class Cancelled(Exception):
    """The session ended before the watch did (an interrupted run)."""


def duration_of(lab) -> float:
    """This run's watch (``lab.submission.model.watch_seconds``: a vendor may watch for longer, never
    shorten the lab's watch)."""
    return watch_seconds(lab.submission.model.stability, lab.inventory.model.lab.stability)


def start_load(lab, transport: Transport, service: Supervisor) -> Supervisor | None:
    """The vendor's load command as the service's user, in its own session, cut off after the watch."""
    spec = lab.submission.model.stability
    if spec is None or not spec.load:
        return None
    limit = int(duration_of(lab)) + 5  # bounded even if the lab were gone before it stops it
    command = f"timeout -s KILL {limit} sh -c {shlex.quote(spec.load)}"
    load = Supervisor(transport, service.spec.model_copy(update={"command": command, "ports": []}), database_env(lab))
    load.log_file = LOAD_LOG
    load.start()
    return load


def _container_judged(lab) -> bool:
    """Whether the container's own memory is sampled beside the service's tree: on a container
    target, unless the lab's desktop session (display server, window manager, panel, the
    application) runs in it during the watch, coming and going with the desktop checks (a review
    saw a steady service fail on the session's memory)."""
    in_container = lab.provisioned is not None and lab.provisioned.handle is not None
    desktop_beside = lab.submission.model.desktop is not None and "desktop" in lab.target_spec.all_tags
    return in_container and not desktop_beside


class Watching:
    """A watch under way in its own thread; ``result()`` waits for it and raises what it raised."""

    def __init__(self, lab, transport: Transport, service: Supervisor):
        self._lab, self._transport, self._service = lab, transport, service
        self._stop = threading.Event()
        self._series: Series | None = None
        self._error: BaseException | None = None
        self.duration = duration_of(lab)
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=THREAD, daemon=True)
        self._thread.start()

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Cancelled()

    def _run(self) -> None:
        lab, settings = self._lab, self._lab.inventory.model.lab.stability
        load = None
        try:
            load = start_load(lab, self._transport, self._service)
            series = watch(self._transport, self._service.pid, self.duration, settings.interval,
                           self._service.mark, sleep=self._sleep, container=_container_judged(lab))
            if load is not None:
                series.load = lab.submission.model.stability.load
                series.load_ended_early = not load.alive()
            self._series = series
        except BaseException as exc:  # handed to the stability checks, in the main thread
            self._error = exc
        finally:
            if load is not None:
                try:
                    load.kill9()
                    (lab.logs / "stability-load.log").write_text(
                        redact(load.log_end().decode("utf-8", "replace"), self._transport.secrets))
                except BaseException as exc:
                    self._error = self._error or exc

    def result(self) -> Series:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._series is not None
        return self._series

    def cancel(self) -> None:
        """Stop sampling (the session is ending); the load command is killed on the way out."""
        self._stop.set()
        self._thread.join(timeout=60)


def begin(lab, transport: Transport, service: Supervisor) -> Watching:
    """Start watching ``service`` now; ``NotApplicable`` when there is no ready, running service."""
    if lab.state.readiness is None or not lab.state.readiness.ready:
        raise NotApplicable("needs a ready service (service.ready failed)")
    if not service.alive():
        restart = next((c for c in lab.checks if c.id == "service.restart"), None)
        if restart is not None and restart.outcome in ("failed", "broken"):
            raise NotApplicable("the service was not running when the watch began (see service.restart)")
        time.sleep(0.5)  # once more: a service that is gone stays gone
        if not service.alive():
            # it was ready after its last start and stopped on its own before the watch: the product's
            # (it had been "not applicable", and a service that died there was certified unwatched)
            raise ProductFailure(f"the service was no longer running when the watch began, though it had been "
                                 f"ready after its last start; its log ends:\n{service.log_tail()}")
    watching = Watching(lab, transport, service)
    lab.event("watch-started", duration=watching.duration)  # the checks after it ran during the watch
    return watching
