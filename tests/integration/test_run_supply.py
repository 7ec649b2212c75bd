"""The supply chain for real: SBOMs of real installs, licences, an offline OSV feed, ABI between releases.

Two ``lab run``s: Debian's curl (the session's shared run, all suites, into a catalogue where a
record fixed long ago was imported first: its SBOM against what apt really set up; a feed import
after certification flags the certificate on the buyers' page) and a tarball built here that bundles
Python packages' metadata, ships an AGPL licence file and a library that lost a symbol since the
release named in its ``[upgrade]``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from examples.make import build_tarball
from lab.supply.sbom import validate
from tests.conftest import ROOT
from tests.integration.packages import osv

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"
POLICY = '\n[lab.policy]\nforbidden_licences = ["AGPL-3.0-only"]\nfail_on_severity = "high"\n'


def lab(*args, catalogue: str, cwd=ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lab", *args, "--catalogue", catalogue], capture_output=True,
                          text=True, cwd=cwd, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def english(page):
    """The English page: the plain name is the lab's first language, others are ``name.<lang>.html``."""
    en = page.with_name(page.stem + ".en.html")
    return en if en.exists() else page


def components(sbom: dict) -> dict[str, dict]:
    return {c["name"]: c for c in sbom["components"] if c["type"] != "file"}


def test_debian_curl_sbom_lists_what_apt_resolved_and_a_later_record_flags_its_certificate(
        shared_run, tmp_path, monkeypatch):
    run = shared_run("debian-curl")  # OSV-TEST-CURL-OLD (fixed in 7.50.0-1) imported before it ran
    catalogue = run.catalogue
    monkeypatch.setenv("LAB_CATALOGUE", catalogue)
    feed = tmp_path / "feed"
    feed.mkdir()
    assert run.proc.returncode == 0, run.target(T)["reason"]
    text = (run.out / "sbom" / f"{T}.cdx.json").read_text()
    validate(text)
    sbom = json.loads(text)
    assert sbom["specVersion"] in ("1.5", "1.6", "1.7")
    found = components(sbom)
    # what apt really set up, with the exact versions it printed
    log = (run.out / "logs" / T / "commands.log").read_text()
    set_up = dict(re.findall(r"Setting up ([a-z0-9.+-]+)(?::\w+)? \(([^)]+)\)", log))
    assert {"curl", "libcurl4", "libnghttp2-14", "libssh2-1"} <= set(set_up)
    for name, version in set_up.items():
        assert found[name]["version"] == version, name
        assert found[name]["purl"].startswith(f"pkg:deb/debian/{name}@")
        assert "distro=debian-12" in found[name]["purl"]
    roles = {n: {p["name"]: p["value"] for p in c["properties"]}["lab:role"] for n, c in found.items()}
    assert roles["curl"] == roles["libcurl4"] == "product" and roles["libnghttp2-14"] == "dependency"
    assert found["libcurl4"]["licenses"], "licences from Debian's copyright file"
    files = [c for c in sbom["components"] if c["type"] == "file"]
    assert any(c["name"] == "/usr/bin/curl" and len(c["hashes"][0]["content"]) == 64 for c in files)
    vulns = run.check(T, "supply.vulnerabilities")
    assert vulns["outcome"] == "passed" and "OSV-TEST-CURL-OLD" not in vulns["message"]
    cert = json.loads((run.out / "certificates" / f"{T}.json").read_text())

    # a record published after the certificate: the import says so, the buyers' page flags it
    installed = found["curl"]["version"]
    late = osv(feed, "OSV-TEST-CURL-LATE", "Debian:12", "curl", installed + "+fix1")
    imported = lab("vulns", "import", str(late), catalogue=catalogue)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert cert["certificate"]["id"] in imported.stdout and "OSV-TEST-CURL-LATE" in imported.stdout
    site = tmp_path / "site"
    assert lab("catalogue", "publish", "--out", str(site), catalogue=catalogue).returncode == 0
    matrix_page = english(site / "index.html").read_text()
    assert "affected by OSV-TEST-CURL-LATE" in matrix_page
    product_page = english(site / "products" / "debian-curl.html").read_text()
    assert f"fixed in {installed}+fix1" in product_page and "SBOM" in product_page
    matrix = json.loads((site / "matrix.json").read_text())
    cell = matrix["products"][0]["results"][T]
    assert [f["id"] for f in cell["affected_by"]] == ["OSV-TEST-CURL-LATE"]
    assert cell["sbom"] and (site / cell["sbom"]).read_text() == text


AGPL = b"""Copyright (C) 2026 ACME

This program is free software: you can redistribute it and/or modify it under the terms of the
GNU Affero General Public License as published by the Free Software Foundation, version 3.
"""


def library(folder, source: str, name: str):
    (folder / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libacme.so.1", "-o", str(folder / f"{name}.so"),
                    str(folder / f"{name}.c")], check=True)
    return folder / f"{name}.so"


def metadata(name: str, version: str, licence: str) -> bytes:
    return f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\nLicense-Expression: {licence}\n".encode()


def test_a_tarball_bundling_python_packages_with_an_agpl_file_and_a_removed_symbol(lab_run, tmp_path, monkeypatch):
    catalogue = f"sqlite:///{tmp_path / 'catalogue.db'}"
    monkeypatch.setenv("LAB_CATALOGUE", catalogue)
    feed = tmp_path / "feed"
    feed.mkdir()
    osv(feed, "OSV-TEST-REQUESTS", "PyPI", "Requests", "2.32.0")          # installed 2.31.0: affected
    osv(feed, "OSV-TEST-URLLIB3", "PyPI", "urllib3", "1.26.5", "CRITICAL")  # installed 2.0.7: fixed
    assert lab("vulns", "import", str(feed), catalogue=catalogue).returncode == 0

    sub = tmp_path / "acme-lib"
    build = sub / "build"
    build.mkdir(parents=True)
    old = library(build, "int acme_add(int a) { return a + 1; }\nint acme_old(int a) { return a; }\n", "old")
    new = library(build, "int acme_add(int a) { return a + 1; }\nint acme_new(int a) { return -a; }\n", "new")
    site = "lib/python3/site-packages"
    build_tarball({"lib/libacme.so.1": old}, sub / "previous" / "acme-lib-0.9.tar.gz")
    build_tarball({"lib/libacme.so.1": new, "LICENSE": AGPL,
                   f"{site}/requests-2.31.0.dist-info/METADATA": metadata("requests", "2.31.0", "Apache-2.0"),
                   f"{site}/urllib3-2.0.7.dist-info/METADATA": metadata("urllib3", "2.0.7", "MIT")},
                  sub / "acme-lib-1.0.tar.gz")
    (sub / "submission.toml").write_text(
        'schema = 1\n[product]\nname = "acme-lib"\nversion = "1.0"\nvendor = "Test Vendor"\n'
        '[[artifacts]]\npath = "acme-lib-1.0.tar.gz"\nprefix = "/opt/acme-lib"\n'
        '[upgrade]\nfrom = [{ path = "previous/acme-lib-0.9.tar.gz", prefix = "/opt/acme-lib" }]\n')
    inventory = tmp_path / "targets.toml"
    inventory.write_text((ROOT / "targets.toml").read_text() + POLICY)

    run = lab_run(sub, "--targets", T, "--suites", "package,supply", "--catalogue", catalogue, inventory=inventory)
    assert run.proc.returncode == 1, run.proc.stdout
    sbom = json.loads((run.out / "sbom" / f"{T}.cdx.json").read_text())
    found = components(sbom)
    requests = found["requests"]
    assert requests["version"] == "2.31.0" and requests["purl"] == "pkg:pypi/requests@2.31.0"
    props = {p["name"]: p["value"] for p in requests["properties"]}
    assert props["lab:role"] == "bundled" and props["lab:best-effort"] == "true"
    assert props["lab:declared-in"] == f"/opt/acme-lib/{site}/requests-2.31.0.dist-info/METADATA"

    licences = run.check(T, "supply.licences")
    assert licences["outcome"] == "failed"
    assert "acme-lib 1.0 (product): AGPL-3.0-only declared in /opt/acme-lib/LICENSE" in licences["message"]

    vulns = run.check(T, "supply.vulnerabilities")
    assert vulns["outcome"] == "failed"
    assert "OSV-TEST-REQUESTS (high): requests installed 2.31.0, fixed in 2.32.0" in vulns["message"]
    assert "OSV-TEST-URLLIB3" not in vulns["message"]

    abi = run.check(T, "package.abi")
    assert abi["outcome"] == "failed"
    assert abi["message"].startswith("1 exported symbol(s) removed or changed")
    assert "libacme.so.1: acme_old removed" in abi["message"]
    assert "libacme.so.1: acme_new added" in abi["message"]


def test_a_forbidden_licence_padded_or_hidden_past_the_caps_does_not_pass(lab_run, tmp_path):
    """Hostile review: the AGPL licence padded past the old 256 KiB cap was skipped in silence and the
    product passed with a certificate; so would one hidden as the 501st licence text."""
    inventory = tmp_path / "targets.toml"
    inventory.write_text((ROOT / "targets.toml").read_text() + POLICY)
    outcomes = {}
    for case, files in {
        "padded": {"LICENSE": AGPL + b"\n" * (300 << 10)},
        "hidden": {**{f"notices/NOTICE-{i:03d}": f"notice {i}\n".encode() for i in range(500)}, "zz/LICENSE": AGPL},
    }.items():
        sub = tmp_path / case
        sub.mkdir()
        build_tarball(files, sub / "acme-lib-1.0.tar.gz")
        (sub / "submission.toml").write_text(
            f'schema = 1\n[product]\nname = "acme-{case}"\nversion = "1.0"\nvendor = "Test Vendor"\n'
            '[[artifacts]]\npath = "acme-lib-1.0.tar.gz"\nprefix = "/opt/acme-lib"\n')
        run = lab_run(sub, "--targets", T, "--suites", "supply", inventory=inventory)
        outcomes[case] = run.check(T, "supply.licences")
        assert run.proc.returncode == 1, (case, outcomes[case]["message"])
    assert outcomes["padded"]["outcome"] == "failed"
    assert "AGPL-3.0-only declared in /opt/acme-lib/LICENSE" in outcomes["padded"]["message"]
    assert outcomes["hidden"]["outcome"] == "failed"
    assert outcomes["hidden"]["message"].startswith("1 licence file(s) the lab could not read whole")
    assert "/opt/acme-lib/zz/LICENSE (beyond 500 different licence texts)" in outcomes["hidden"]["message"]
