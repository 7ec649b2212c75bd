"""Suite `service`: the declared service starts under supervision, opens exactly its ports, comes
back after SIGKILL three times, and stops on SIGTERM."""

from __future__ import annotations

import time

import pytest

from lab.observe.findings import head
from lab.reasons import KILL_LEFT, NOT_READY_AGAIN, NOT_STOPPED, PORTS_UNTRUSTED, STILL_RUNNING, UNDECLARED_PORTS
from lab.submission.model import SERVICE_RESTARTS as RESTARTS

STOP_TIMEOUT = 10.0


@pytest.mark.check("service.ready")
def test_ready_within_its_timeout(lab, service):
    ready = lab.state.readiness
    assert ready.ready, ready.detail
    lab.metrics.setdefault("ready_s", round(ready.seconds, 2))
    lab.note(f"ready in {ready.seconds:.2f} s")


@pytest.mark.check("service.ports")
def test_listens_only_on_declared_ports(lab, service):
    if not lab.state.readiness.ready:
        pytest.skip("needs a ready service (service.ready failed)")
    declared = set(service.spec.ports)
    listening = service.listening()
    changed = lab.instruments_changed()  # read through the target's ss: not replaced since the install
    assert not changed, PORTS_UNTRUSTED.say(paths=head(changed))
    extra = sorted(listening - declared - lab.state.ports_before)
    assert not extra, UNDECLARED_PORTS.say(ports=", ".join(map(str, extra)),
                                           declared=", ".join(map(str, sorted(declared))) or "none")


@pytest.mark.check("service.restart")
def test_comes_back_after_sigkill(lab, service):
    if not lab.state.readiness.ready:
        pytest.skip("needs a ready service (service.ready failed)")
    for attempt in range(1, RESTARTS + 1):
        left = service.kill9()
        assert not left, KILL_LEFT.say(attempt=attempt, kills=RESTARTS, left=left)
        assert not service.alive(), STILL_RUNNING.say(attempt=attempt, kills=RESTARTS)
        service.start()
        ready = service.wait_ready()
        assert ready.ready, NOT_READY_AGAIN.say(attempt=attempt, kills=RESTARTS, detail=ready.detail)
    lab.note(f"ready again after each of {RESTARTS} SIGKILLs")


def outliving(observer, before: set[int], grace: float = 3.0) -> dict[int, str]:
    """Processes started since the service that still run, given ``grace`` seconds to finish ending
    (a process of the tree still exiting on a loaded machine was once taken for an escaped one)."""
    deadline = time.monotonic() + grace
    while True:
        left = {pid: cmd for pid, cmd in observer.processes().items() if pid not in before}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.mark.check("service.stop")
def test_stops_on_sigterm(lab, target, service):
    stopped, _seconds = service.stop(STOP_TIMEOUT)
    assert stopped, NOT_STOPPED.say(seconds=f"{STOP_TIMEOUT:g}")
    before = lab.state.processes_before_service
    if before is not None:  # seen from outside: also what left the service's session and environment
        left = outliving(target.observer(), before)
        assert not left, (f"{len(left)} process(es) started since the service did outlived its stop: "
                          f"{head(list(left.values()))} (they left the service's session and environment, so "
                          "its SIGTERM did not reach them)")
