"""The SBOM builder: CycloneDX that validates against the schema, from components of every kind."""

from __future__ import annotations

import json

import pytest

from lab.supply.licences import Declared
from lab.supply.sbom import Component, Product, build, bundled_purl, deb_purl, validate
from lab.supply.stored import subjects


def sample() -> str:
    comps = [
        Component("product", "acme", "1.0-1", deb_purl("acme", "1.0-1", "amd64", "debian-12"), "Debian:12", "acme",
                  "1.0-1", "apt database", [Declared("MIT", "/usr/share/doc/acme/copyright")], "amd64"),
        Component("dependency", "libcurl4", "7.88.1-10+deb12u8",
                  deb_purl("libcurl4", "7.88.1-10+deb12u8", "amd64", "debian-12"), "Debian:12", "curl",
                  "7.88.1-10+deb12u8", "apt database",
                  [Declared("curl", "a"), Declared("GPL-2.0-or-later WITH LicenseRef-Libtool-exception", "b")]),
        Component("bundled", "requests", "2.31.0", bundled_purl("PyPI", "requests", "2.31.0"), "PyPI", "requests",
                  "2.31.0", "/opt/acme/requests-2.31.0.dist-info/METADATA", [Declared("Apache-2.0", "m")]),
        Component("bundled", "com.acme:core", "3.1", bundled_purl("Maven", "com.acme:core", "3.1"), "Maven",
                  "com.acme:core", "3.1", "/opt/acme/core.jar!/META-INF/maven/com.acme/core/pom.properties"),
    ]
    return build(Product("acme", "1.0", "ACME <x>"), "debian12-x86_64", comps,
                 {"/usr/bin/acme": "ab" * 32, "/usr/share/acme/unread": ""}, ["a note"])


def test_it_validates_and_lists_every_component_and_file():
    text = sample()
    validate(text)
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["name"] == "acme"
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name["libcurl4"]["purl"] == "pkg:deb/debian/libcurl4@7.88.1-10%2Bdeb12u8?arch=amd64&distro=debian-12"
    assert by_name["requests"]["purl"] == "pkg:pypi/requests@2.31.0"
    assert by_name["com.acme:core"]["purl"] == "pkg:maven/com.acme/core@3.1"
    assert by_name["/usr/bin/acme"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    assert by_name["acme"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert by_name["libcurl4"]["licenses"]  # an exception SPDX does not know: kept by name, still valid


def test_the_schema_check_refuses_a_broken_document():
    doc = json.loads(sample())
    doc["components"][0]["type"] = "spaceship"
    with pytest.raises(ValueError, match="does not validate"):
        validate(json.dumps(doc))


def test_subjects_name_debian_packages_by_their_source():
    assert ("Debian:12", "curl", "7.88.1-10+deb12u8", "libcurl4 (source curl)") in subjects(sample())
    assert ("PyPI", "requests", "2.31.0", "requests") in subjects(sample())
