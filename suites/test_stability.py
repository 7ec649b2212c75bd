"""Suite `stability`: the declared service watched for a while, as a long-run certification does.

The service the `service` suite started is sampled through ``/proc`` every ``interval`` s for the
submission's ``[stability] duration`` (else the lab's ``[lab.stability] duration``), with the
vendor's optional ``load`` command running beside it as the service's user. Judged: it stayed up;
its memory and its open descriptors show no growing trend (``lab.stability.judge``); and it comes
back ready after ``kill -9``, ``[lab.stability] kills`` times (openEuler's ten). The samples go
to ``logs/<target>/stability.json``, a chart to ``stability.svg`` (attached to the report), a few
figures to the target's metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from lab.errors import NotApplicable, ProductFailure
from lab.observe.findings import head
from lab.reasons import (
    DIED,
    DIED_BESIDE_LOAD,
    DIED_LOAD_ENDED,
    FDS_GROW,
    KILL_LEFT,
    MEMORY_GROWS,
    NOT_READY_AGAIN,
    OUTSIDE_GROWS,
    SAMPLES_UNTRUSTED,
    STILL_RUNNING,
)
from lab.report.allure_worker import picture
from lab.service import HOME, LOG
from lab.stability import judge
from lab.stability.background import THREAD
from lab.stability.chart import svg
from lab.stability.sampler import Series
from lab.transport.base import redact

RESTART_LOG = f"{HOME}/stability-restarts.log"


@dataclass
class Watched:
    series: Series
    memory: judge.Growth | None
    fds: judge.Growth | None
    container: judge.Growth | None = None  # a container target's memory, every process in it


def write_logs(lab, series: Series, memory: judge.Growth | None) -> None:
    (lab.logs / "stability.json").write_text(json.dumps(series.to_json(), indent=1))
    title = (f"{lab.submission.model.product.name} {lab.submission.model.product.version} "
             f"on {lab.target_spec.name}: {series.duration:g} s watch")
    (lab.logs / "stability.svg").write_text(svg(series, memory, title))


@pytest.fixture(scope="module")
def watched(lab, stability_watch) -> Watched:
    """The watch begun in the background when the service's own checks were done (the package,
    supply and desktop checks ran meanwhile); waited for here, its commands this check's evidence."""
    if isinstance(stability_watch, Exception):
        raise stability_watch
    # The checks that run meanwhile are done: what is left of the watch is waiting, the time to build
    # the next run's prepared layer (begun with the watch, it took CPU from those checks), and for
    # the controller to warm its report up (lab.run.finish.warm_up).
    lab.event("watch-waiting")
    lab.prepare_layer()
    try:
        series = stability_watch.result()
    finally:
        lab.adopt_commands(THREAD)
    if changed := lab.instruments_changed():  # sampled through the target's shell, awk and sed
        raise ProductFailure(SAMPLES_UNTRUSTED.say(paths=head(changed)))
    duration = stability_watch.duration
    memory = judge.memory(series.samples, duration)
    fds = judge.descriptors(series.samples, duration)
    write_logs(lab, series, memory)
    s = series.samples
    lab.metrics.update({"stability.duration_s": round(s[-1].t, 1), "stability.samples": len(s),
                        "stability.rss_kb_max": max(x.rss_kb for x in s),
                        "stability.cpu_s": round(s[-1].cpu_s - s[0].cpu_s, 2),
                        "stability.fds_max": max(x.fds for x in s), "stability.threads_max": max(x.threads for x in s),
                        "stability.restarts": series.restarts})
    if memory is not None:
        lab.metrics["stability.rss_growth_pct"] = round(memory.pct, 2)
    if fds is not None:
        lab.metrics["stability.fd_growth"] = round(fds.growth, 1)
    container = judge.container_memory(series.samples, duration)  # None where it was not sampled
    if container is not None:
        lab.metrics["stability.container_growth_pct"] = round(container.pct, 2)
    return Watched(series, memory, fds, container)


@pytest.mark.check("stability.uptime")
def test_stays_up_for_the_whole_watch(lab, service, watched):
    series = watched.series
    died = judge.death(series.samples)
    load = ""
    if series.load:
        load = (f"; the load `{series.load}` ran beside it"
                + (" (it ended before the watch did)" if series.load_ended_early else ""))
    if died is not None:
        said = (DIED if not series.load else DIED_LOAD_ENDED if series.load_ended_early else DIED_BESIDE_LOAD)
        raise ProductFailure(said.say(**died.figures(), duration=f"{series.duration:g}", load=series.load,
                                      said="\n" + service.log_tail()))
    lab.note(f"up for the whole {series.duration:g} s watch ({len(series.samples)} samples, "
             f"{lab.metrics['stability.cpu_s']} s of CPU){load}")


@pytest.mark.check("stability.memory")
def test_memory_does_not_keep_growing(lab, watched):
    chart = lab.logs / "stability.svg"
    picture(chart, "the service over the watch")
    g = watched.memory
    if g is None:
        raise NotApplicable(f"too few samples after the warm-up to draw a trend ({len(watched.series.samples)} in "
                            f"all); a longer [stability] duration gives more")
    where = f"logs/{lab.target_spec.name}/stability.svg"
    assert not g.exceeded, MEMORY_GROWS.say(**g.figures(), chart=where)
    c = watched.container
    assert c is None or not c.exceeded, OUTSIDE_GROWS.say(**c.figures(), chart=where)
    lab.note(f"resident memory {g.describe('KiB')}"
             + (f"; the container's, every process in it: {c.describe('KiB')}" if c is not None else ""))


@pytest.mark.check("stability.fds")
def test_descriptors_do_not_keep_growing(lab, watched):
    g = watched.fds
    if g is None:
        raise NotApplicable("too few samples after the warm-up to draw a trend; a longer [stability] duration "
                            "gives more")
    assert not g.exceeded, FDS_GROW.say(**g.figures())
    lab.note(f"open descriptors {g.describe('fds')}")


@pytest.mark.check("stability.kill_restart")
def test_comes_back_after_repeated_sigkill(lab, target, service):
    """kill -9 and start again, ``kills`` times; these starts log apart, so service.log keeps the
    service suite's own story (its first start and its three restarts)."""
    if not lab.state.readiness.ready:
        raise NotApplicable("needs a ready service (service.ready failed)")
    kills = lab.inventory.model.lab.stability.kills
    service.log_file = RESTART_LOG
    try:
        for attempt in range(1, kills + 1):
            left = service.kill9()
            assert not left, KILL_LEFT.say(attempt=attempt, kills=kills, left=left)
            assert not service.alive(), STILL_RUNNING.say(attempt=attempt, kills=kills)
            service.start()
            ready = service.wait_ready()
            assert ready.ready, NOT_READY_AGAIN.say(attempt=attempt, kills=kills, detail=ready.detail)
    finally:
        (lab.logs / "stability-restarts.log").write_text(
            redact(service.log_end().decode("utf-8", "replace"), target.transport.secrets))
        service.log_file = LOG
    lab.note(f"ready again after each of {kills} SIGKILLs")
