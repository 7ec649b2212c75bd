"""``lab run`` on the example submissions: the verdicts a vendor and a buyer would rely on.

acme-hello and trixie-hello are the session's shared runs (test_evidence publishes the same two)."""

from __future__ import annotations

import pytest

from lab.suite import registry

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ALL_CHECKS = set(registry.CHECKS)  # every check the lab knows runs (or says why it is skipped)


def test_a_good_deb_passes_on_debian_12_and_13(shared_run):
    run = shared_run("acme-hello")  # on debian12-x86_64,debian13-x86_64
    assert run.proc.returncode == 0, run.proc.stdout
    v = run.verdicts
    assert set(v["targets"]) == {"debian12-x86_64", "debian13-x86_64"}
    assert v["submission"]["artifacts"][0]["path"] == "acme-hello_1.2.0_amd64.deb"
    for name, t in v["targets"].items():
        assert t["verdict"] == "passed", (name, t["reason"])
        assert {c["id"] for c in t["checks"]} == ALL_CHECKS
        assert t["metrics"]["installed_bytes"] > 10_000
    assert v["targets"]["debian12-x86_64"]["facts"]["glibc"] == "2.36"
    assert v["targets"]["debian13-x86_64"]["facts"]["glibc"] == "2.41"
    install = run.check("debian12-x86_64", "install.package")
    assert any("apt-get" in e["command"] and e["exit_status"] == 0 for e in install["evidence"])


def test_a_debian_13_package_fails_on_12_naming_glibc_and_passes_on_13(shared_run):
    run = shared_run("trixie-hello")  # on the targets it claims, and a registry target (broken) for test_evidence
    assert run.proc.returncode == 1
    assert run.target("debian13-x86_64")["verdict"] == "passed"
    t12 = run.target("debian12-x86_64")
    assert t12["verdict"] == "failed"
    symbols = run.check("debian12-x86_64", "package.symbol_versions")
    assert symbols["outcome"] == "failed"
    assert "/usr/bin/hello needs GLIBC_2.38 from libc.so.6" in symbols["message"]
    assert "glibc 2.36" in symbols["message"]
    install = run.check("debian12-x86_64", "install.package")
    assert install["outcome"] == "failed" and "libc6 (>= 2.38)" in install["message"]
    assert "2.36" in install["message"]
    assert "debian12-x86_64" in run.proc.stdout and "failed" in run.proc.stdout


def test_an_arm64_deb_fails_on_x86_64_naming_the_architecture_and_passes_on_aarch64(examples, lab_run):
    run = lab_run(examples / "arm64-hello")
    assert run.proc.returncode == 1
    assert run.target("debian12-aarch64")["verdict"] == "passed"
    assert run.target("debian12-aarch64")["facts"]["emulated"] == "yes"
    machine = run.check("debian12-x86_64", "package.elf_machine")
    assert machine["outcome"] == "failed"
    assert "/usr/bin/hello: built for aarch64 (EM_AARCH64)" in machine["message"]
    assert "built for arm64; debian12-x86_64 is amd64" in run.check("debian12-x86_64", "install.package")["message"]


def test_a_tarball_with_a_service_is_supervised(examples, lab_run, quick_watch):
    run = lab_run(examples / "acme-web", "--targets", "debian12-x86_64", inventory=quick_watch)
    assert run.verdicts["targets"].keys() == {"debian12-x86_64"}
    assert run.proc.returncode == 0, run.target("debian12-x86_64")["reason"]
    t = run.target("debian12-x86_64")
    outcomes = {c["id"]: c["outcome"] for c in t["checks"]}
    for check in ("service.ready", "service.ports", "service.restart", "service.stop", "security.outside_prefix",
                  "footprint.service"):
        assert outcomes[check] == "passed", check
    assert t["metrics"]["service_rss_kb"] > 0 and "ready_s" in t["metrics"]
    log = (run.out / "logs/debian12-x86_64/service.log").read_text()
    assert log.count("acme-web listening on 8080") == 4  # first start + 3 restarts after SIGKILL
