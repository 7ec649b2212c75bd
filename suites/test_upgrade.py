"""Suite `upgrade`: the release customers upgrade from, upgraded in place to the submitted one.

Runs last on a target, after the uninstall: the earlier release (``[upgrade] from``) is installed
afresh, its service started until ready and the vendor's tests marked ``before_upgrade`` run
(``LAB_UPGRADE=before``), so it writes its data. Then the service is stopped, every file under the
``keep`` paths is summed, one configuration file is changed as an administrator would (a comment
line appended to the first dpkg conffile or rpm %config file; a tarball has none), and the
submitted artifacts go over it in one transaction (a .deb batch with ``--force-confold``, as an
unattended upgrade; a tarball unpacked over the old prefix and its install script run there).
Judged: the upgrade itself, the data byte for byte, the administrator's change, the service ready
again, the vendor's tests after it (all of them, ``LAB_UPGRADE=after``). Losing data is the
product's failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lab.deploy import upgrade as steps
from lab.deploy.deployment import Deployment
from lab.errors import NotApplicable, ProductFailure
from lab.service import HOME, Supervisor
from lab.suite.applicable import NO_SERVICE, NO_TESTS, NO_UPGRADE
from lab.suite.database import database_env
from lab.suite.vendor import VendorTestsFailed, run_vendor_tests
from lab.transport.base import redact

MARKER = "before_upgrade"
SHOWN = 10  # paths named in a message
LOGS = {"earlier": f"{HOME}/upgrade-earlier.log", "upgraded": f"{HOME}/upgrade-service.log"}


@dataclass
class Upgrade:
    earlier: Deployment | None = None
    services: dict[str, Supervisor] | None = None  # "earlier", "upgraded": each with its own log
    baseline: steps.Checksums | None = None  # under [upgrade] keep before the earlier release: the OS's
    before: steps.Checksums | None = None
    conffile: str | None = None
    line: str = ""
    applied: bool = False


def declared(lab):
    up = lab.submission.model.upgrade
    if up is None:
        raise NotApplicable(NO_UPGRADE)
    return up


def applied(state: Upgrade) -> None:
    if not state.applied:
        raise NotApplicable("needs the upgrade applied (upgrade.apply)")


def listing(paths: list[str]) -> str:
    more = f" ... and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return ", ".join(paths[:SHOWN]) + more


@pytest.fixture(scope="module")
def upgrade(lab, target):
    state = Upgrade(services={})
    yield state
    for phase, sup in state.services.items():
        (lab.logs / f"upgrade-{phase}-service.log").write_text(
            redact(sup.log_end().decode("utf-8", "replace"), target.transport.secrets))
        if sup.alive():
            sup.kill9()


def start_service(lab, target, state: Upgrade, phase: str):
    """The declared service, started under the lab's supervision; its readiness."""
    sup = Supervisor(target.transport, lab.submission.model.service, database_env(lab))
    sup.log_file = LOGS[phase]
    state.services[phase] = sup
    sup.start()
    return sup, sup.wait_ready()


def vendor_tests(lab, target, phase: str, only_marked: bool):
    limits = lab.limits()
    env = {**database_env(lab), "LAB_UPGRADE": phase}
    if only_marked:
        env["PYTEST_ADDOPTS"] = f"-m {MARKER}"
    return run_vendor_tests(lab.inventory, lab.opts.run_id, lab.submission.root, lab.submission.model.tests.paths,
                            target.transport, limits["command_timeout"], limits["install_timeout"],
                            lab.logs / f"upgrade-vendor-tests-{phase}.log", env=env)


def install(d, what: str) -> None:
    """Install a release's deployment; its failure is the product's, said as ``what``."""
    if not d.applicable:
        raise NotApplicable("; ".join(d.not_applicable))
    try:
        d.install()
    except ProductFailure as exc:
        raise ProductFailure(f"{what} failed: {exc}") from None


def failures(run) -> list[str]:
    return [f"{r.check_id}: {r.message.strip().splitlines()[0] if r.message.strip() else 'failed'}"
            for r in run.results if r.outcome == "failed"]


@pytest.mark.check("upgrade.previous")
def test_the_earlier_release_installs_and_writes_its_data(lab, target, upgrade):
    up = declared(lab)
    main = lab.state.deployment
    if main is not None and main.failure:
        raise NotApplicable("needs the submitted release to install (install.package failed)")
    if main is not None and main.installed:  # the uninstall suite did not run: the lab removes it first
        main.uninstall()
    d = steps.earlier(target, lab.submission, lab.limits()["install_timeout"])
    if up.keep:  # what is there before the product: the OS's files, not data the upgrade must keep
        upgrade.baseline = steps.checksums(target.transport, up.keep)
    install(d, "installing the earlier release")
    upgrade.earlier = d
    done, problems = [f"installed {', '.join(s.name for _, s in d.steps)}"], []
    if lab.submission.model.service is not None:
        try:
            _sup, ready = start_service(lab, target, upgrade, "earlier")
        except ProductFailure as exc:
            problems.append(f"the earlier release's service: {exc}")
        else:
            if ready.ready:
                done.append(f"its service ready in {ready.seconds:.1f} s")
            else:
                problems.append(f"the earlier release's service did not become ready: {ready.detail}")
    if lab.submission.model.tests is not None:
        try:
            run = vendor_tests(lab, target, "before", only_marked=True)
            bad = failures(run)
            if bad:
                problems.append(f"{len(bad)} vendor test(s) marked {MARKER} failed on the earlier release:\n"
                                + "\n".join(bad))
            else:
                done.append(f"{len(run.results)} vendor test(s) marked {MARKER} passed")
        except VendorTestsFailed as exc:
            problems.append(f"the vendor tests marked {MARKER} failed on the earlier release: {exc}")
    for sup in upgrade.services.values():
        if sup.alive():
            sup.stop()
    upgrade.before = steps.checksums(target.transport, up.keep) if up.keep else None
    if upgrade.before is not None:
        done.append(f"{len(upgrade.before.files)} file(s) under {', '.join(up.keep)} summed")
    conffile = steps.first_conffile(target.transport, d)
    if conffile:  # set once changed: an unchanged one (the lab's fault, broken here) must not pass upgrade.config
        upgrade.line = steps.administer(target.transport, conffile)
        upgrade.conffile = conffile
        done.append(f"{upgrade.conffile} changed as an administrator would")
    assert not problems, "\n".join(problems)
    lab.note("; ".join(done))


@pytest.mark.check("upgrade.apply")
def test_the_upgrade_succeeds_in_one_transaction(lab, target, upgrade):
    declared(lab)
    if upgrade.earlier is None:
        raise NotApplicable("needs the earlier release installed (upgrade.previous)")
    new = steps.upgrade_of(target, lab.submission, lab.limits()["install_timeout"])
    install(new, "upgrading from the earlier release")
    upgrade.applied = True
    pkgs = sorted(new.packages())
    if pkgs and target.facts.package_manager in ("apt", "dpkg"):
        now = target.transport.run("dpkg-query -W -f='${Package} ${Version}\\n' " + " ".join(pkgs)).stdout
        lab.note("now installed: " + ", ".join(now.split("\n")).strip(", "))
    else:
        lab.note(f"upgraded to {', '.join(s.name for _, s in new.steps)}")


@pytest.mark.check("upgrade.data")
def test_the_data_survives_byte_for_byte(lab, target, upgrade):
    up = declared(lab)
    applied(upgrade)
    if not up.keep:
        raise NotApplicable("[upgrade] keep names no path")
    summed = upgrade.before
    if summed is None:
        raise NotApplicable("the files under [upgrade] keep were not summed before the upgrade (upgrade.previous)")
    # Only what the earlier release and its service wrote counts: keep = ["/usr/share/zoneinfo"] holds
    # the OS's files, which no upgrade of the product touches, and proves nothing.
    os_files = upgrade.baseline.files if upgrade.baseline is not None else {}
    before = {p: h for p, h in summed.files.items() if os_files.get(p) != h}
    ignored = len(summed.files) - len(before)
    assert before, (f"no file under {', '.join(up.keep)} before the upgrade was the product's: the earlier release "
                    "wrote no data there (its service and the tests marked before_upgrade ran), so nothing shows it "
                    "survives" + (f"; the {ignored} file(s) there were the system's before the product was installed"
                                  if ignored else ""))
    after = steps.checksums(target.transport, up.keep)
    missing, changed = steps.compare(before, after.files)
    gone = [p for p in up.keep if p in after.absent and p not in summed.absent]
    problems = []
    if gone:
        problems.append(f"{', '.join(gone)} no longer exist(s) after the upgrade")
    if missing:
        problems.append(f"{len(missing)} of {len(before)} file(s) gone: {listing(missing)}")
    if changed:
        problems.append(f"{len(changed)} of {len(before)} file(s) changed: {listing(changed)}")
    assert not problems, "the upgrade lost data under [upgrade] keep: " + "; ".join(problems)
    capped = " (the first files of each path only)" if summed.capped else ""
    system = f"; {ignored} file(s) of the system's there not counted" if ignored else ""
    lab.note(f"all {len(before)} file(s) under {', '.join(up.keep)} unchanged{capped}{system}")


@pytest.mark.check("upgrade.config")
def test_the_administrators_change_is_kept(lab, target, upgrade):
    declared(lab)
    applied(upgrade)
    if upgrade.conffile is None:
        raise NotApplicable("the earlier release declares no configuration file the package manager keeps "
                            "(dpkg conffiles, rpm %config; tarballs have none)")
    fmt = next(s.artifact.format for _, s in upgrade.earlier.steps)
    kept, detail = steps.config_kept(target.transport, upgrade.conffile, upgrade.line, fmt)
    assert kept, detail
    lab.note(detail)


@pytest.mark.check("upgrade.service")
def test_the_service_comes_back_after_the_upgrade(lab, target, upgrade):
    declared(lab)
    applied(upgrade)
    if lab.submission.model.service is None:
        raise NotApplicable(NO_SERVICE)
    _sup, ready = start_service(lab, target, upgrade, "upgraded")
    assert ready.ready, f"the service is not ready after the upgrade: {ready.detail}"
    ports = ", ".join(str(p) for p in lab.submission.model.service.ports)
    lab.note(f"ready after the upgrade in {ready.seconds:.1f} s" + (f" on port(s) {ports}" if ports else ""))


@pytest.mark.check("upgrade.vendor_tests")
def test_the_vendors_tests_pass_after_the_upgrade(lab, target, upgrade):
    declared(lab)
    applied(upgrade)
    if lab.submission.model.tests is None:
        raise NotApplicable(NO_TESTS)
    try:
        run = vendor_tests(lab, target, "after", only_marked=False)
    except VendorTestsFailed as exc:
        raise ProductFailure(f"the vendor tests after the upgrade: {exc}") from None
    if not run.collected:
        raise NotApplicable("no vendor tests were collected")
    bad = failures(run)
    assert not bad, f"{len(bad)} of {len(run.results)} vendor test(s) failed after the upgrade:\n" + "\n".join(bad)
    lab.note(f"{len(run.results)} vendor test(s) passed after the upgrade")
