"""The SBOM builder: CycloneDX that validates against the schema, from components of every kind."""

from __future__ import annotations

import json

import pytest

from lab.supply.licences import Declared
from lab.supply.sbom import Component, Product, build, bundled_purl, deb_purl, generic_purl, validate
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


@pytest.mark.parametrize("version", ["1.0?arch=evil#sub", "1.0 beta@2/x"])
def test_a_vendors_version_cannot_forge_the_products_purl(version):
    """Review: the product's purl was formatted from the vendor's version text, so ``?``/``#``/``@``
    in it read back as qualifiers, a subpath or another name; now it round-trips as one version."""
    from packageurl import PackageURL

    back = PackageURL.from_string(generic_purl("acme-web", version))
    assert (back.name, back.version, back.qualifiers, back.subpath) == ("acme-web", version, {}, None)
    comp = Component("product", "acme-web", version, generic_purl("acme-web", version), declared_in="submission.toml")
    validate(build(Product("acme-web", version, "ACME"), "debian12-x86_64", [comp], {}))


def test_licence_refs_and_unknown_exceptions_beside_plain_ids_still_make_a_valid_sbom():
    """Debian's harfbuzz copyright: plain ids, a LicenseRef and `X WITH LicenseRef-...` in one file
    (CycloneDX refuses an expression among several licence entries)."""
    where = "/usr/share/doc/gir1.2-harfbuzz-0.0/copyright"
    declared = [Declared(e, where) for e in ("MIT", "LicenseRef-Monotype",
                                             "GPL-2.0-or-later WITH LicenseRef-Font-exception")]
    text = build(Product("p", "1", "v"), "t", [Component("dependency", "gir1.2-harfbuzz-0.0", "1",
                                                         licences=declared)], {}, [])
    validate(text)
    (comp,) = [c for c in json.loads(text)["components"] if c["name"] == "gir1.2-harfbuzz-0.0"]
    names = {lic["license"].get("id") or lic["license"].get("name") for lic in comp["licenses"]}
    assert names == {"MIT", "LicenseRef-Monotype", "GPL-2.0-or-later WITH LicenseRef-Font-exception"}
