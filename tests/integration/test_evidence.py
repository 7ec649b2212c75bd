"""Evidence for engineers and buyers, in a real browser: the Allure report and the catalogue site
after real runs, and the certificates they link to."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

from tests.browser import cells, json_of, render
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.docker]
DOCS_IMAGES = ROOT / "docs/images"


@pytest.fixture(scope="module")
def published(examples, tmp_path_factory):
    """Two example submissions run for real (one with a failed and a broken target), then published."""
    tmp = tmp_path_factory.mktemp("evidence")
    db = f"sqlite:///{tmp / 'catalogue.db'}"
    runs = {}
    for name, targets in (("trixie-hello", "debian12-x86_64,debian13-x86_64,openeuler2203-x86_64"),
                          ("acme-hello", "debian12-x86_64,debian13-x86_64")):
        out = tmp / name
        proc = subprocess.run([sys.executable, "-m", "lab", "run", str(examples / name), "--targets", targets,
                               "--output", str(out), "--catalogue", db], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        assert "report: " in proc.stdout, proc.stdout
        runs[name] = out
    site = tmp / "site"
    proc = subprocess.run([sys.executable, "-m", "lab", "catalogue", "publish", "--out", str(site), "--catalogue", db],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return runs, site


def test_the_matrix_shows_both_runs_with_colours_and_working_links(published, request):
    _runs, site = published
    shot = (DOCS_IMAGES if request.config.getoption("--update-golden") else site) / "matrix.png"
    dom, outside = render(site / "index.html", screenshot=shot, size="1300,420")
    assert outside == set()
    found = cells(dom)
    assert "failed" in found[("gnu-hello", "debian12-x86_64")]
    assert "passed" in found[("gnu-hello", "debian13-x86_64")]
    assert "broken" in found[("gnu-hello", "openeuler2203-x86_64")]
    assert "passed" in found[("acme-hello", "debian12-x86_64")]
    assert re.search(r'<td class="cell failed" data-target="debian12-x86_64"', dom)
    for (product, target), cell in found.items():
        links = re.findall(r'href="([^"]+)"', cell)
        assert links, (product, target)
        for link in links:
            assert (site / link).is_file(), link
        has_certificate = any("certificates/" in link for link in links)
        assert has_certificate == ("passed" in cell), (product, target)
    matrix = json_of(site / "matrix.json")
    assert {p["name"] for p in matrix["products"]} == {"gnu-hello", "acme-hello"}


def test_a_linked_certificate_verifies_against_the_published_key(published, examples):
    _, site = published
    cert = next((site / "certificates").glob("*acme-hello/debian12-x86_64.json"))
    proc = subprocess.run([sys.executable, "-m", "lab", "certificate", "verify", str(cert), "--key",
                           str(site / "keys/lab-signing-key.pub.pem"), "--artifact",
                           str(examples / "acme-hello/acme-hello_1.2.0_amd64.deb")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    tampered = cert.with_name("tampered.json")
    tampered.write_text(cert.read_text().replace('"glibc": "2.36"', '"glibc": "2.38"'))
    proc = subprocess.run([sys.executable, "-m", "lab", "certificate", "verify", str(tampered), "--key",
                           str(site / "keys/lab-signing-key.pub.pem")], capture_output=True, text=True)
    assert proc.returncode == 1 and "altered" in proc.stdout
    assert not list((site / "certificates").glob("*gnu-hello/debian12-x86_64.json"))  # failed: no certificate


def test_the_report_opens_offline_with_targets_suites_failed_and_broken_apart(published, request):
    runs, _ = published
    report = runs["trixie-hello"] / "report/index.html"
    html = report.read_text()
    assert "googletagmanager" not in html and "gtag(" not in html
    assert not re.findall(r'(?:src|href)="https?://', html)
    shot = (DOCS_IMAGES if request.config.getoption("--update-golden") else report.parent) / "report.png"
    dom, outside = render(report, screenshot=shot)
    assert outside == set()
    for target in ("debian12-x86_64", "debian13-x86_64", "openeuler2203-x86_64"):
        assert target in dom
    counters = dict(re.findall(r'>(Failed|Broken|Passed|Skipped) <small data-testid="counter"[^>]*>(\d+)', dom))
    assert int(counters["Failed"]) >= 2 and int(counters["Broken"]) >= 10, counters
    for suite in ("install", "package", "security"):
        assert f">{suite}<" in dom
    embedded = dict(re.findall(r'd\("([^"]+)",\s*"([A-Za-z0-9+/=]+)"\)', html))
    categories = base64.b64decode(embedded["widgets/categories.json"]).decode()
    for name in ("Product incompatibility", "Lab infrastructure", "Advisory findings"):
        assert f'"name":"{name}' in categories, name
    results = runs["trixie-hello"] / "allure-results"
    assert (results / "categories.json").exists() and (results / "environment.properties").exists()
    assert "Product incompatibility" in (results / "categories.json").read_text()


def test_history_is_kept_per_product_across_renders(published, tmp_path):
    runs, _ = published
    history = tmp_path / "history"
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "lab", "report", str(runs["acme-hello"]), "--history",
                               str(history)], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
    lines = (history / "acme-hello.jsonl").read_text().splitlines()
    assert len(lines) == 2
