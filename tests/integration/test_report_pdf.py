"""The test report for people (CONTRACT section 8): ``report/report.pdf``, read back with poppler.

A real ``lab run examples/acme-calc`` writes it; the failed, broken, waived and screenshot cases are
a run folder made by hand (verdicts.json, a certificate signed by the lab's code, a screenshot,
an SBOM) and ``lab report DIR``, the command a person runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab.certs.issue import issue_certificates
from lab.i18n import characteristic_words, check_title, language
from lab.inventory.model import LabSettings
from lab.results.model import Verdicts
from lab.suite import registry

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

WAIVER_REASON = "上游修复在 2.1 版本, 厂商书面承诺"
FACTS = {"arch": "aarch64", "emulated": "yes", "os_id": "debian", "os_version": "12",
         "os_name": "Debian GNU/Linux 12 (bookworm)", "package_manager": "apt", "kernel": "6.1.0-18-arm64",
         "glibc": "2.36", "db_server": "PostgreSQL 15", "db_version": "15.6", "desktop": "UKUI 3.1"}


def _check(cid, outcome, message="", waiver=None, required=True):
    return {"id": cid, "outcome": outcome, "message": message, "required": required, "waiver": waiver}


def make_run(folder: Path) -> Verdicts:
    """A run of three targets: one failed (the product's fault), one passed with a waiver (with a
    certificate, a screenshot and an SBOM), one broken (the lab's fault)."""
    waiver = {"reason": WAIVER_REASON, "reviewer": "wang.li", "expires": "2027-03-31"}
    doc = {
        "schema": 1, "run": "20261130-101500-acme-notes", "harness": "0.1.0",
        "started": "2026-11-30T10:15:00+00:00", "finished": "2026-11-30T10:41:07+00:00",
        "submission": {"name": "acme-notes", "version": "2.0.3", "vendor": "深圳市阿克米软件有限公司",
                       "artifacts": [{"path": "acme-notes_2.0.3_arm64.deb", "sha256": "ab" * 32}]},
        "targets": {
            "kylin-v10-aarch64": {
                "verdict": "failed", "facts": FACTS,
                "reason": "install.package: acme-notes needs GLIBC_2.38, kylin-v10-aarch64 has glibc 2.36",
                "checks": [_check("install.package", "failed", "acme-notes needs GLIBC_2.38, kylin-v10-aarch64 "
                                                               "has glibc 2.36\ndpkg: error processing"),
                           _check("package.elf_machine", "passed"),
                           _check("security.elf_hardening", "failed", "/opt/acme/bin/notes: no RELRO",
                                  required=False)]},
            "uos-20-x86_64": {
                "verdict": "passed", "facts": FACTS | {"arch": "x86_64", "emulated": "no", "desktop": "DDE 5.6"},
                "reason": "",
                "checks": [_check("install.package", "passed"), _check("desktop.launch", "passed"),
                           _check("security.world_writable", "waived", "/opt/acme/cache is world-writable",
                                  waiver=waiver),
                           _check("service.ports", "passed")]},
            "openeuler-22-x86_64": {
                "verdict": "broken", "facts": {"arch": "x86_64", "emulated": "no", "os_name": "openEuler 22.03"},
                "reason": "lab.provision: the image openeuler-22-x86_64 could not be started",
                "checks": [_check("lab.provision", "broken", "the image openeuler-22-x86_64 could not be started")]},
        }}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "allure-results").mkdir(exist_ok=True)
    verdicts = Verdicts.model_validate(doc)
    (folder / "verdicts.json").write_text(verdicts.dump())
    shots = folder / "screenshots" / "uos-20-x86_64"
    shots.mkdir(parents=True)
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 200), "#2d6cdf")
    ImageDraw.Draw(image).rectangle((40, 40, 280, 160), fill="#ffffff")
    image.save(shots / "desktop.window_appears.png")
    (shots / "notes.png.txt").write_text("not a screenshot")
    (folder / "sbom").mkdir()
    (folder / "sbom" / "uos-20-x86_64.cdx.json").write_text(json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": f"c{i}"} for i in range(7)]}))
    issue_certificates(verdicts, folder, LabSettings(name="深圳软件适配测试中心"))
    return verdicts


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf") / "run"
    verdicts = make_run(folder)
    inventory = folder.parent / "targets.toml"  # the lab's, with the centre's name of a Shenzhen lab
    inventory.write_text((ROOT / "targets.toml").read_text().replace(
        'name = "Adaptation Lab (development centre)"', 'name = "深圳软件适配测试中心"', 1))
    proc = subprocess.run([sys.executable, "-m", "lab", "report", str(folder), "--history",
                           str(folder.parent / "history"), "--inventory", str(inventory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder, verdicts


def test_a_failed_runs_pdf_states_its_reasons_and_a_waived_check_its_waiver(hand_made):
    folder, verdicts = hand_made
    pdf = folder / "report" / "report.pdf"
    text = pdf_text(pdf)
    flat = squeeze(text)
    assert "深圳软件适配测试中心" in text and "20261130-101500-acme-notes" in text  # centre, report number
    assert "acme-notes" in text and "2.0.3" in text and squeeze("深圳市阿克米软件有限公司") in flat
    # the conclusion of each target, in Chinese
    for words in ("不通过", "有豁免通过", "未能判定"):
        assert words in flat, words
    # the failure's reason, the tool's words as they are, and whose fault it is
    assert squeeze("acme-notes needs GLIBC_2.38, kylin-v10-aarch64 has glibc 2.36") in flat
    assert "产品的问题" in flat and "实验室的问题" in flat
    assert squeeze("the image openeuler-22-x86_64 could not be started") in flat
    # the waiver: reason, reviewer, expiry
    cells = squeeze(subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout)
    assert squeeze(WAIVER_REASON) in cells and "wang.li" in flat and "2027年3月31日" in flat  # a cell's lines together
    # grouped by GB/T 25000.51 characteristics (the registry's), translated
    assert "可移植性" in flat and "易安装性" in flat and "信息安全性" in flat
    with language("zh-CN"):
        for result in verdicts.targets.values():
            for check in result.checks:
                assert squeeze(characteristic_words(registry.characteristic(check.id))) in flat, check.id
    # the SBOM summary and the certificate's fingerprint and verification
    assert "共7个组件" in flat
    cert = json.loads((folder / "certificates" / "uos-20-x86_64.json").read_text())
    from hashlib import sha256

    from lab.certs.certificate import canonical

    assert sha256(canonical(cert["certificate"])).hexdigest() in flat
    assert cert["signature"]["key_id"] in flat
    assert squeeze("lab certificate verify certificates/uos-20-x86_64.json") in flat
    # the environment of every target, harness tools included
    for fact in ("6.1.0-18-arm64", "PostgreSQL 15", "UKUI 3.1", "DDE 5.6", "openEuler 22.03", "pytest",
                 "testinfra"):
        assert squeeze(fact) in flat, fact


def test_the_pdf_embeds_a_cjk_font_and_shows_the_screenshot(hand_made):
    folder, _ = hand_made
    pdf = folder / "report" / "report.pdf"
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    cjk = [line for line in fonts.splitlines() if "CJK" in line]
    assert cjk and all(" yes " in line for line in cjk), fonts  # embedded: no tofu on a machine without it
    images = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert any(re.search(r"\b320\s+200\b", line) for line in images.splitlines()), images  # the screenshot
    html = (folder / "report" / "report.html").read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in html and "desktop.window_appears.png" in html and "notes.png.txt" not in html


@pytest.mark.timeout(1800)
def test_every_check_and_environment_of_a_real_run_is_in_the_pdf(tmp_path):
    """``lab run examples/acme-calc`` on two of its targets (one with a database server) writes
    report.pdf with every check and each target's environment."""
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "lab", "run", "examples/acme-calc", "--output", str(out),
                           "--targets", "debian12-x86_64,debian12-postgresql", "--no-report"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert (out / "verdicts.json").exists(), proc.stdout + proc.stderr
    # the report as `lab run` renders it, its Allure history in the test's folder (not the lab's reports/)
    proc = subprocess.run([sys.executable, "-m", "lab", "report", str(out), "--history", str(tmp_path / "history")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = Verdicts.model_validate_json((out / "verdicts.json").read_text())
    pdf = out / "report" / "report.pdf"
    assert pdf.is_file(), proc.stdout + proc.stderr
    flat = squeeze(pdf_text(pdf))
    assert "acme-calc" in flat and verdicts.submission.version in flat and verdicts.run in flat
    assert set(verdicts.targets) == {"debian12-x86_64", "debian12-postgresql"}
    assert squeeze(verdicts.targets["debian12-postgresql"].facts["db_server"]) in flat
    with language("zh-CN"):
        for name, result in verdicts.targets.items():
            assert name in flat
            for fact in ("kernel", "glibc", "os_name", "arch"):
                if result.facts.get(fact):
                    assert squeeze(result.facts[fact]) in flat, (name, fact)
            for check in result.checks:
                assert check.id in flat, check.id
                title = check_title(check.id)
                if title:
                    assert squeeze(title) in flat, (check.id, title)


def test_what_the_pdf_needs_is_made_while_allure_renders(hand_made, tmp_path):
    """``lab run`` starts Allure's generator, then issues the certificates (``before_pdf``), then lays
    out the PDF: the PDF still shows each certificate's fingerprint."""
    import shutil

    from lab.report.render import render

    folder = tmp_path / "run"
    shutil.copytree(hand_made[0], folder, ignore=shutil.ignore_patterns("report", "certificates"))
    verdicts = Verdicts.model_validate_json((folder / "verdicts.json").read_text())
    made = []

    def certify():
        made.append(issue_certificates(verdicts, folder, LabSettings(name="深圳软件适配测试中心")))

    render(folder, tmp_path / "history", verdicts, LabSettings(name="深圳软件适配测试中心"), before_pdf=certify)
    assert len(made) == 1 and (folder / "report" / "index.html").is_file()
    cert = json.loads((folder / "certificates" / "uos-20-x86_64.json").read_text())
    from hashlib import sha256

    from lab.certs.certificate import canonical

    assert sha256(canonical(cert["certificate"])).hexdigest() in squeeze(pdf_text(folder / "report" / "report.pdf"))


def _two_results(folder: Path) -> None:
    for i, status in enumerate(("passed", "failed")):
        (folder / "allure-results" / f"r{i}-result.json").write_text(json.dumps(
            {"uuid": f"r{i}", "name": f"check {i}", "fullName": f"suites.check_{i}", "historyId": f"h{i}",
             "status": status, "stage": "finished", "start": 1_700_000_000_000, "stop": 1_700_000_001_000}))


def test_allures_generator_started_ahead_writes_the_same_report(hand_made, tmp_path):
    """``lab run`` starts Allure's generator while the workers run, so its second of loading is spent
    before the results are complete; asked with them, it writes what ``allure ARGS`` writes. One that
    died meanwhile is replaced by a fresh one; one never asked ends when the lab lets go of it."""
    import shutil

    from lab.report import allure_ready
    from lab.report.render import render

    lab = LabSettings(name="深圳软件适配测试中心")
    summaries = {}
    for how in ("started ahead", "started when asked", "died before asked"):
        folder = tmp_path / how.replace(" ", "-")
        shutil.copytree(hand_made[0], folder, ignore=shutil.ignore_patterns("report"))
        _two_results(folder)
        ahead = None
        if how != "started when asked":
            allure_ready.prestart()
            ahead = allure_ready._started
            assert ahead is not None
            if how == "died before asked":
                ahead.proc.kill()
                ahead.proc.wait()
        render(folder, tmp_path / f"history-{how}", hand_made[1], lab)
        assert allure_ready._started is None  # taken: one report, one generator
        if how == "started ahead":
            assert ahead.proc.wait(timeout=60) == 0
        summaries[how] = json.loads((folder / "report" / "summary.json").read_text())
        assert (folder / "report" / "index.html").stat().st_size > 100_000
    assert {json.dumps(s["stats"], sort_keys=True) for s in summaries.values()} == {
        json.dumps({"failed": 1, "new": 2, "passed": 1, "total": 2}, sort_keys=True)}
    assert len({s["status"] for s in summaries.values()}) == 1

    allure_ready.prestart()
    never = allure_ready.take()
    never.discard()
    assert never.proc.wait(timeout=60) == 0
