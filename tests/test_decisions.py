"""The pure decisions of a run, tested without Docker: whose fault an exception is, facts from the
probe, which targets and suites a submission gets, which installer takes an artifact, the verdict
and the exit code (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.deploy.select import choose_installer
from lab.errors import CommandTimeout, ConnectionLost, InputError, NotApplicable, ProductFailure
from lab.facts import parse_probe
from lab.inventory import load_inventory
from lab.results.model import Check, Outcome, SubmissionRef, TargetResult, Verdicts, reduce
from lab.run.controller import exit_code
from lab.run.plan import choose_suites, choose_targets
from lab.submission.model import Artifact
from lab.suite.outcome import classify
from tests.conftest import ROOT


@pytest.mark.parametrize(("exc", "outcome"), [
    (None, "passed"), (AssertionError("x"), "failed"), (ProductFailure("x"), "failed"),
    (ConnectionLost("gone"), "broken"), (NotApplicable("n/a"), "skipped"), (KeyboardInterrupt(), "broken"),
    (ValueError("bug"), "broken"), (CommandTimeout("sleep", 3), "broken"),
])
def test_whose_fault_an_exception_is(exc, outcome):
    assert classify(exc)[0] == outcome


def test_an_assert_message_without_pytests_rewrite():
    assert classify(AssertionError("port 80 closed\nassert False"))[1] == "port 80 closed"
    assert classify(ValueError("x"))[1] == "harness error ValueError: x"


def test_facts_from_the_probe():
    text = ("arch=aarch64\nkernel=6.1.0\nglibc=2.36\nhas=apt-get\nhas=dpkg\nos_ID=debian\nos_VERSION_ID=\"12\"\n"
            "os_PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nos_VERSION_CODENAME=bookworm\n"
            "snapshot=2026-11-30T12:00:00Z\nmemory_max=1073741824\npids_max=512\ncpu_max=100000 100000\n")
    f = parse_probe(text)
    assert (f.arch, f.os_version, f.package_manager, f.glibc) == ("aarch64", "12", "apt", "2.36")
    assert f.emulated is True  # this machine is x86_64
    assert (f.snapshot, f.memory_limit, f.pids_limit, f.cpu_limit) == ("2026-11-30T12:00:00Z", "1 GiB", "512", "1")
    trixie = parse_probe("arch=x86_64\nos_ID=debian\nos_VERSION_CODENAME=trixie\nhas=apt-get\npids_max=max\n")
    assert trixie.os_version == "13" and trixie.pids_limit is None
    # cgroup v1 (this machine class): the same limits from its own files, "no limit" as no limit
    v1 = parse_probe("arch=x86_64\nos_ID=debian\nos_VERSION_ID=12\nhas=apt-get\nmemory_max=268435456\n"
                     "pids_max=128\ncpu_max=50000 100000\n")
    assert (v1.memory_limit, v1.pids_limit, v1.cpu_limit) == ("256 MiB", "128", "0.5")
    free = parse_probe("arch=x86_64\nos_ID=debian\nos_VERSION_ID=12\nhas=apt-get\n"
                       "memory_max=9223372036854771712\npids_max=max\ncpu_max=-1 100000\n")
    assert (free.memory_limit, free.pids_limit, free.cpu_limit) == (None, None, None)


class Sub:
    """Just what target selection reads of a loaded submission."""

    def __init__(self, targets=(), tags=()):
        from lab.submission.model import Claims

        self.model = type("M", (), {"claims": Claims(targets=list(targets), tags=list(tags))})()
        self.root = Path("/nowhere")


def test_target_selection():
    inv = load_inventory(ROOT / "targets.toml")
    assert [t.name for t in choose_targets(inv, Sub(), None)] == [t.name for t in inv.model.enabled]
    assert [t.name for t in choose_targets(inv, Sub(tags=["db"]), None)] == ["debian12-postgresql",
                                                                             "debian12-mariadb"]
    assert [t.name for t in choose_targets(inv, Sub(), ["openeuler2203-x86_64"])] == ["openeuler2203-x86_64"]
    with pytest.raises(InputError, match=r"no target named 'debian12-amd64' in targets.toml; did you mean "
                                         "debian12-x86_64"):
        choose_targets(inv, Sub(targets=["debian12-amd64"]), None)


def test_suite_selection():
    assert choose_suites(None)[0] == "install" and choose_suites(["security"]) == ["security"]
    with pytest.raises(InputError, match="no suite named 'securty'"):
        choose_suites(["securty"])


def test_installer_choice_explains_every_refusal():
    deb = parse_probe("arch=x86_64\nos_ID=debian\nos_VERSION_ID=12\nhas=apt-get\n")
    rpm_target = parse_probe("arch=x86_64\nos_ID=openEuler\nos_VERSION_ID=22.03\nhas=dnf\n")
    assert choose_installer(Artifact(path="a.deb"), deb).format == "deb"
    assert choose_installer(Artifact(path="a.tar.gz", prefix="/opt/a"), rpm_target).format == "tar"
    with pytest.raises(NotApplicable) as info:
        choose_installer(Artifact(path="a.rpm"), deb)
    assert "rpm installer: target uses apt, not rpm" in str(info.value)
    assert "deb installer: artifact is not a .deb" in str(info.value)


def checks(*outcomes: str, required: bool = True) -> list[Check]:
    return [Check(id=f"s.c{i}", outcome=o, required=required) for i, o in enumerate(outcomes)]


def test_the_verdict_is_the_worst_required_check():
    assert reduce(checks("passed", "broken", "failed")) == Outcome.FAILED
    assert reduce(checks("passed", "broken")) == Outcome.BROKEN
    assert reduce(checks("passed", "skipped")) == Outcome.PASSED
    assert reduce(checks("skipped")) == reduce([]) == Outcome.SKIPPED
    assert reduce(checks("passed") + checks("failed", required=False)) == Outcome.PASSED


@pytest.mark.parametrize(("verdicts", "code"), [
    (["passed", "skipped"], 0), (["passed", "broken"], 3), (["broken", "failed"], 1), ([], 0)])
def test_exit_codes(verdicts, code):
    v = Verdicts(run="r", submission=SubmissionRef(name="n", version="1", vendor="v", artifacts=[]),
                 targets={f"t{i}": TargetResult(verdict=o) for i, o in enumerate(verdicts)})
    assert exit_code(v) == code


def test_a_run_hashes_each_artifact_once_for_any_number_of_targets(tmp_path, monkeypatch):
    """The controller unpacks and hashes; each worker gets its folder and digests (issue 9)."""
    import lab.submission.load as load
    from lab.submission import load_submission

    (tmp_path / "a.tar.gz").write_bytes(b"x" * 1000)
    (tmp_path / "submission.toml").write_text('schema = 1\n[product]\nname = "p"\nversion = "1"\nvendor = "v"\n'
                                             '[[artifacts]]\npath = "a.tar.gz"\nprefix = "/opt/p"\n')
    calls = []
    real = load.sha256_file
    monkeypatch.setattr(load, "sha256_file", lambda p: calls.append(p) or real(p))
    controller = load_submission(tmp_path)
    workers = [load_submission(controller.root, digests=controller.sha256) for _ in range(3)]
    assert len(calls) == 1
    assert all(w.sha256 == controller.sha256 for w in workers)
