"""The order a target runs its checks in, and the order its results list them in."""

from lab.suite import registry


def test_every_suite_runs_and_the_uninstall_and_upgrade_come_last():
    assert sorted(registry.FILES) == sorted(registry.REPORT_FILES)
    assert registry.FILES[-2:] == ["test_uninstall.py", "test_upgrade.py"]
    assert registry.FILES[0] == "test_install.py"


def test_what_runs_during_the_watch_comes_between_the_service_and_the_stability_checks():
    at = {f: i for i, f in enumerate(registry.FILES)}
    for name in registry.DURING_WATCH:
        assert at["test_service.py"] < at[registry.SUITE[name].file] < at["test_stability.py"]
    # footprint measures the service before the watch (and its load) begins; the vendor's tests
    # (which use the service) and the security comparison of what the install changed stay out of it
    for outside in ("test_footprint.py", "test_security.py"):
        assert at[outside] < min(at[registry.SUITE[n].file] for n in registry.DURING_WATCH)
    assert at["test_vendor.py"] > at["test_stability.py"]


def test_results_keep_the_reports_order_whatever_ran_first():
    ran = ["install.package", "security.setuid", "service.ready", "package.elf_machine", "supply.sbom",
           "stability.uptime", "vendor.tests", "service.stop", "install.uninstall", "upgrade.apply"]
    listed = sorted(ran, key=registry.report_rank)
    assert listed == ["install.package", "package.elf_machine", "security.setuid", "supply.sbom",
                      "service.ready", "stability.uptime", "vendor.tests", "service.stop", "install.uninstall",
                      "upgrade.apply"]
    assert registry.rank("package.elf_machine", "test_package.py") > registry.rank("service.ready", "test_service.py")
