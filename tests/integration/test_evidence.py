"""Evidence for engineers and buyers, in a real browser: the Allure report and the catalogue site
after real runs, and the certificates they link to."""

from __future__ import annotations

import base64
import html
import os
import re
import subprocess
import sys

import pytest

from lab.catalogue.publish import plain_reason
from lab.certs.keys import key_id, load_or_create
from tests.browser import cells, columns, json_of, render, text_of
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.docker]
DOCS_IMAGES = ROOT / "docs/images"


@pytest.fixture(scope="module")
def published(shared_run):
    """Two example submissions run for real (one with a failed and a broken target: the session's
    shared runs, test_run_examples reads them too), then published. Everything is in a temporary
    folder: the catalogue (those two runs and nothing else), the reports' history, the signing key."""
    runs = {}
    for name in ("trixie-hello", "acme-hello"):
        run = shared_run(name)
        assert run.proc.returncode in (0, 1), run.proc.stdout + run.proc.stderr
        runs[name] = run.out
    tmp = runs["acme-hello"].parent  # the catalogue's folder, its key in key/
    db = shared_run("acme-hello").catalogue
    env = os.environ | {"LAB_SIGNING_KEY": str(tmp / "key" / "signing-key.pem")}
    # the report separately: `lab run` keeps its history under the inventory's reports/. acme-hello's
    # report is rendered (twice) by test_history_is_kept_per_product_across_renders.
    proc = subprocess.run([sys.executable, "-m", "lab", "report", str(runs["trixie-hello"]), "--history",
                           str(tmp / "history")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert "report: " in proc.stdout, proc.stdout + proc.stderr
    site = tmp / "site"
    proc = subprocess.run([sys.executable, "-m", "lab", "catalogue", "publish", "--out", str(site), "--catalogue", db],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    return runs, site


def test_the_matrix_shows_both_runs_with_colours_and_working_links(published, request):
    _runs, site = published
    shot = (DOCS_IMAGES if request.config.getoption("--update-golden") else site) / "matrix.png"
    dom, outside = render(site / "index.html", screenshot=shot, size="1400,800")
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
    for product in matrix["products"]:
        for result in product["results"].values():
            if result["verdict"] == "passed":
                assert result["certificate"].endswith(".json") and json_of(site / result["certificate"])["signature"]


def test_columns_say_what_each_target_stands_for(published, inventory):
    _, site = published
    dom, _ = render(site / "index.en.html")  # English: index.html is in the default language, zh-CN
    heads = columns(dom)
    assert list(heads) == [t.name for t in inventory.model.targets if t.name in heads]  # the inventory's order
    assert set(heads) == {"debian12-x86_64", "debian13-x86_64", "openeuler2203-x86_64"}
    for name, head in heads.items():
        words = text_of(head)
        assert inventory.model.get(name).description in words, (name, words)
        assert "CPU: x86_64, emulated: no" in words, (name, words)
        assert not re.search(r"\b(False|True|None)\b", words), words


def test_a_failed_or_broken_cell_says_why_and_whose_fault_in_the_page(published):
    _, site = published
    # what the cell shows, its attributes (the tooltip) left out
    found = {k: text_of(v.split(">", 1)[1]) for k, v in cells(render(site / "index.en.html")[0]).items()}
    results = next(p for p in json_of(site / "matrix.json")["products"] if p["name"] == "gnu-hello")["results"]
    failed = found[("gnu-hello", "debian12-x86_64")]
    reason = results["debian12-x86_64"]["reason"]
    assert "2.38" in reason and reason.startswith("install.package: ")
    assert "the product's fault" in failed and plain_reason(reason)[:80] in failed, (reason, failed)
    assert plain_reason(reason).startswith("Installing the package (install.package): ")
    assert "artifact: x86_64 (amd64)" in failed
    broken = found[("gnu-hello", "openeuler2203-x86_64")]
    reason = results["openeuler2203-x86_64"]["reason"]
    assert reason and "the lab's fault" in broken and plain_reason(reason)[:60] in broken, (reason, broken)
    assert "artifact: x86_64 (amd64)" in found[("acme-hello", "debian13-x86_64")]
    product, _ = render(site / "products/gnu-hello.en.html")
    assert "emulated: no" in text_of(product) and not re.search(r"\b(False|True|None)\b", text_of(product))


def test_the_certificate_page_links_its_signed_json_and_the_keys_page_explains(published):
    _, site = published
    page = next((site / "certificates").glob("*acme-hello/debian12-x86_64.html"))
    dom, outside = render(page)
    assert outside == set()
    link = re.search(r'<a class="signed-json" href="([^"]+)"', dom).group(1)
    signed = json_of(page.parent / link)
    assert signed["certificate"]["product"]["name"] == "acme-hello"
    keys_link = re.search(r'<a class="keys" href="([^"]+)"', render(site / "index.html")[0]).group(1)
    assert keys_link == "keys/index.html"  # a page, not a folder listing
    keys, outside = render(site / keys_link)
    assert outside == set()
    words = text_of(keys)
    assert signed["signature"]["key_id"] in words and "BEGIN PUBLIC KEY" in words
    assert "openssl pkeyutl -verify -pubin -inkey lab-signing-key.pub.pem -rawin" in words
    pem = (site / "keys/lab-signing-key.pub.pem").read_text()
    assert pem.strip() in html.unescape(keys)
    assert signed["signature"]["key_id"] == key_id(load_or_create(site.parent / "key/signing-key.pem").public_key())


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
        assert "report: " in proc.stdout, proc.stdout + proc.stderr
    lines = (history / "acme-hello.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # nothing of the lab's own checkout (its folder, its branch) in a vendor's report
    html = (runs["acme-hello"] / "report/index.html").read_text()
    assert '"repoName":"",' in html and '"jobRunBranch":"",' in html, re.findall(r'"ci":\{[^}]*\}', html)
