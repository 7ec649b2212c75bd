"""Whether a version is in an OSV record's ranges, in each ecosystem's own ordering."""

from __future__ import annotations

import pytest

from lab.supply.versions import affected, ecosystem_matches, normal_name


def fixed_at(fixed: str, introduced: str = "0", kind: str = "ECOSYSTEM") -> list[dict]:
    return [{"type": kind, "events": [{"introduced": introduced}, {"fixed": fixed}]}]


@pytest.mark.parametrize(("version", "hit"), [
    ("7.88.1-10+deb12u4", True), ("7.88.1-10+deb12u5", False), ("7.88.1-10+deb12u12", False),
    ("7.88.1~rc1-1", True),         # a tilde sorts before anything: an earlier version
    ("1:7.0-1", False),             # an epoch outranks every upstream version
])
def test_debian_ordering_is_dpkgs(version, hit):
    assert affected(fixed_at("7.88.1-10+deb12u5"), [], "Debian:12", version)[0] is hit


def test_the_fixed_version_is_named_when_affected():
    assert affected(fixed_at("7.88.1-10+deb12u5"), [], "Debian:12", "7.88.1-10+deb12u4") == (True, "7.88.1-10+deb12u5")


@pytest.mark.parametrize(("version", "hit"), [("2.9", False), ("2.10", True), ("2.31.0rc1", True),
                                              ("2.31.0", False), ("2.31.0.post1", False)])
def test_pypi_ordering_is_pep_440(version, hit):
    # as strings "2.10" < "2.9"; PEP 440 says otherwise
    assert affected(fixed_at("2.31.0", introduced="2.10"), [], "PyPI", version)[0] is hit


@pytest.mark.parametrize(("version", "hit"), [("1.2.3", True), ("1.2.4", False), ("1.10.0", False),
                                              ("1.0.0-beta.1", False), ("1.0.0", True)])
def test_npm_ordering_is_semver_with_last_affected(version, hit):
    ranges = [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"last_affected": "1.2.3"}]}]
    assert affected(ranges, [], "npm", version)[0] is hit


def test_two_ranges_in_one_record_and_explicit_versions():
    ranges = [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0.0"}, {"fixed": "1.2.0"},
                                               {"introduced": "2.0.0"}, {"fixed": "2.1.0"}]}]
    assert affected(ranges, [], "npm", "1.5.0") == (False, None)
    assert affected(ranges, [], "npm", "2.0.5") == (True, "2.1.0")
    assert affected([], ["0.9.1"], "Maven", "0.9.1")[0] is True
    assert affected(fixed_at("2.0"), [], "Maven", "1.0")[0] is False  # no ordering known: no claim


def test_go_versions_and_git_ranges():
    assert affected(fixed_at("v0.17.0"), [], "Go", "v0.16.1")[0] is True
    assert affected(fixed_at("abc123", kind="GIT"), [], "Go", "v0.16.1")[0] is False


def test_names_and_ecosystems_as_records_say_them():
    assert normal_name("PyPI", "Zope.Interface_x") == "zope-interface-x"
    assert normal_name("npm", "@Scope/Pkg") == "@Scope/Pkg"
    assert ecosystem_matches("Debian", "Debian:12") and ecosystem_matches("Debian:12", "Debian:12")
    assert not ecosystem_matches("Debian:11", "Debian:12") and not ecosystem_matches("PyPI", "npm")
