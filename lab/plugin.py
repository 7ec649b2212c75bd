"""The pytest plugin (``pytest11`` entry point ``lab``): binds the compatibility suites to a target.

Inert unless ``--lab-target`` is given, so it costs nothing in other pytest sessions. With it,
each test marked ``@pytest.mark.check("suite.check")`` becomes one check of the target, its
outcome decided by whose fault its exception is (``lab.suite.outcome``), its evidence the
commands it ran.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

import pytest

from lab.errors import NotApplicable
from lab.suite import registry
from lab.suite.applicable import NO_SERVICE
from lab.suite.outcome import classify
from lab.suite.session import LabSession, WorkerOptions
from lab.transport.base import redact

SESSION = pytest.StashKey[LabSession]()
STARTED = pytest.StashKey[float]()
PHASES = pytest.StashKey[list]()
LAST = pytest.StashKey[bool]()



def pytest_addoption(parser):
    group = parser.getgroup("lab", "Adaptation Lab")
    group.addoption("--lab-target", help="name of the inventory target to run the suites on")
    group.addoption("--lab-inventory", default="targets.toml", help="the lab's inventory file")
    group.addoption("--lab-submission", help="the submission folder (unpacked and checked by the controller)")
    group.addoption("--lab-digests", default="{}", help="JSON: artifact path -> sha256, as the controller computed")
    group.addoption("--lab-run", help="run id (labels the target's container)")
    group.addoption("--lab-out", help="the run's output folder")
    group.addoption("--lab-suites", help="comma-separated suites to run (default: all)")


def pytest_configure(config):
    config.addinivalue_line("markers", "check(id): the stable dotted id of a check (lab.suite.registry says the rest)")
    if not config.getoption("--lab-target", default=None):
        return
    # A run started in the background (SIGINT ignored, as under nohup or a service manager) hands
    # that on to its workers; the controller stops workers with SIGINT, so they must hear it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    opts = WorkerOptions(
        target=config.getoption("--lab-target"), inventory=Path(config.getoption("--lab-inventory")),
        submission=Path(config.getoption("--lab-submission")), run_id=config.getoption("--lab-run"),
        digests=json.loads(config.getoption("--lab-digests") or "{}"),
        out=Path(config.getoption("--lab-out")),
        suites=[s for s in (config.getoption("--lab-suites") or "").split(",") if s] or None,
    )
    config.stash[SESSION] = LabSession(opts)
    config.stash[SESSION].provision_early()  # the container starts while the suites are collected


def check_id(item) -> tuple[str, bool]:
    """(id, required): the id from the test's marker, how it counts from the registry."""
    marker = item.get_closest_marker("check")
    cid = marker.args[0] if marker is not None else f"vendor.{item.name}"
    return cid, registry.check(cid).required


def pytest_collection_modifyitems(session, config, items):
    lab = config.stash.get(SESSION, None)
    if lab is None:
        return
    if lab.opts.suites:
        keep = [i for i in items if check_id(i)[0].split(".")[0] in lab.opts.suites
                or not registry.check(check_id(i)[0]).needs_install]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep

    items.sort(key=lambda item: registry.rank(check_id(item)[0], Path(str(item.fspath)).name))
    from lab.report import allure_worker  # after provision_early: loaded while the target starts

    allure_worker.label_items(items, lab, check_id)
    ids = {check_id(i)[0] for i in items}
    if "supply.sbom" in ids:  # while the first checks wait on the target
        from lab.supply.sbom import warm_up

        warm_up()
    if "vendor.tests" in ids and lab.submission.model.tests is not None:  # its container starts meanwhile
        from lab.suite.vendor import discard_runner, prestart_runner

        lab.state.runner = prestart_runner(lab.inventory, lab.opts.run_id)
        lab.defer(lambda: discard_runner(lab.state.runner))  # when the vendor tests never took it
    if "supply.vulnerabilities" in ids:  # the feed's database modules (SQLAlchemy): a second, when needed
        from lab.supply.feed_probe import feed_url, known_empty

        if not known_empty(feed_url(lab.inventory)):
            from lab.warmup import import_in_background

            import_in_background("lab.supply.feed", name="feed-modules")


@pytest.fixture(autouse=True)
def _lab_allure(request):
    lab = request.config.stash.get(SESSION, None)
    if lab is not None:
        from lab.report import allure_worker

        allure_worker.begin_check(request.node, lab, check_id(request.node)[0])
    yield
    if lab is not None and request.node.stash.get(LAST, False) and lab.command_log.exists():
        import allure

        allure.attach.file(str(lab.command_log), "the target's whole command log", allure.attachment_type.TEXT)


def _lab(request) -> LabSession:
    lab = request.config.stash.get(SESSION, None)
    if lab is None:
        pytest.fail("the lab fixtures need --lab-target (run the suites through `lab run`)")
    return lab


@pytest.fixture(scope="session")
def lab(request) -> LabSession:
    return _lab(request)


@pytest.fixture(scope="session")
def target(lab):
    """The provisioned target; its facts are gathered once here."""
    return lab.provision()


@pytest.fixture(scope="session")
def host(target):
    """testinfra's ``host`` bound to the target through the lab's fast transport."""
    from lab.transport.testinfra import as_testinfra_host

    return as_testinfra_host(target.transport)


@pytest.fixture(scope="session")
def deployment(lab, target):
    d = lab.deployment()
    if not d.applicable:
        raise NotApplicable("; ".join(d.not_applicable))
    return d


@pytest.fixture
def installed(deployment):
    """The deployment, when the product is installed; otherwise the check does not apply."""
    if not deployment.installed:
        raise NotApplicable(f"needs the product installed, and install.package "
                            f"{'failed' if deployment.failure else 'did not run'}")
    return deployment


@pytest.fixture(scope="session")
def service(lab, target, deployment):
    """The vendor's service started under the lab's supervision, or *skipped* when none is declared."""
    from lab.errors import ProductFailure
    from lab.service import Readiness, Supervisor
    from lab.suite.database import database_env

    spec = lab.submission.model.service
    if spec is None:
        raise NotApplicable(NO_SERVICE)
    if not deployment.installed:
        raise NotApplicable("needs the product installed, and install.package failed")
    sup = Supervisor(target.transport, spec, database_env(lab))
    lab.state.ports_before = sup.listening()  # e.g. the engine's DNS listeners, not the product's
    observer = target.observer()
    if observer.trusted:  # what the service leaves behind at its stop is told from these
        lab.state.processes_before_service = set(observer.processes())
    try:
        sup.start()
        lab.state.readiness = sup.wait_ready()
    except ProductFailure as exc:  # service.ready reports it once; the other checks then skip
        lab.state.readiness = Readiness(False, 0.0, str(exc))
    yield sup
    (lab.logs / "service.log").write_text(redact(sup.log_end().decode("utf-8", "replace"), target.transport.secrets))
    if sup.alive():
        sup.kill9()


@pytest.fixture(scope="session")
def stability_watch(request, lab, target):
    """The stability suite's watch of the service, begun by the first check that runs during it
    (``registry.DURING_WATCH``) or else by the stability checks themselves. It yields the
    ``Watching``, or the exception that says why there is none, and never raises it: a check that
    merely runs meanwhile must not fail for the watch; the stability checks raise it."""
    from lab.stability.background import begin

    if lab.opts.suites and "stability" not in lab.opts.suites:
        yield None
        return
    watching, problem = None, None
    try:
        watching = begin(lab, target.transport, request.getfixturevalue("service"))
    except Exception as exc:  # NotApplicable (no service, not ready) or the lab's own failure
        problem = exc
    yield watching or problem
    if watching is not None:
        watching.cancel()


@pytest.fixture(autouse=True)
def _watched_meanwhile(request):
    """The checks of ``registry.DURING_WATCH`` run while the service is being watched."""
    lab = request.config.stash.get(SESSION, None)
    if lab is not None and check_id(request.node)[0].split(".")[0] in registry.DURING_WATCH:
        request.getfixturevalue("stability_watch")


@contextlib.contextmanager
def _not_applicable_is_skipped():
    """A ``NotApplicable`` raised in a fixture or a check makes the check *skipped*, with its reason."""
    try:
        yield
    except NotApplicable as exc:
        pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _not_applicable_is_skipped():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """A check the submission never asked for on this target is skipped before its fixtures run
    (lab/suite/applicable.py): a target the lab could not provision lists only the checks that
    apply as broken."""
    lab = item.config.stash.get(SESSION, None)
    if lab is not None:
        from lab.suite.applicable import not_applicable

        if why := not_applicable(check_id(item)[0], lab.submission.model, lab.target_spec):
            pytest.skip(why)
    with _not_applicable_is_skipped():
        return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    lab = item.config.stash.get(SESSION, None)
    if lab is not None:
        lab.begin_check()
        item.stash[STARTED] = time.monotonic()
        item.stash[PHASES] = []
        item.stash[LAST] = nextitem is None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    lab = item.config.stash.get(SESSION, None)
    if lab is None or PHASES not in item.stash:
        return report
    exc = call.excinfo.value if call.excinfo and not report.skipped else None
    skip = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        skip = report.longrepr[2].removeprefix("Skipped: ")
    item.stash[PHASES].append(classify(exc, skip))
    if call.when == "teardown":
        phases = item.stash[PHASES]
        outcome, message = next(((o, m) for o, m in phases if o in ("failed", "broken")),
                                next(((o, m) for o, m in phases if o == "skipped"), ("passed", "")))
        if outcome == "passed":
            message = next((m for o, m in phases if m), "")
        cid, required = check_id(item)
        lab.end_check(cid, outcome, message, time.monotonic() - item.stash[STARTED], required)
    return report


def pytest_sessionfinish(session, exitstatus):
    lab = session.config.stash.get(SESSION, None)
    if lab is None:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        lab.interrupted = True  # nothing at the end waits for what only saves time later
        lab.end_check("lab.run", "broken", "run interrupted before every check ran", 0.0, True)
    lab.write_result()
    lab.close()
