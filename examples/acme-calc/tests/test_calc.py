"""The vendor's own tests: testinfra, with `host` bound to each target by the lab."""


def test_adds_numbers(host):
    assert host.run("acme-calc 2 3 4").stdout.strip() == "9"


def test_bc_came_from_the_target_os(host):
    assert host.package("bc").is_installed
