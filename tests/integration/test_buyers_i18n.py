"""The buyers' site in Simplified Chinese and English, in a real browser (Debian's Chromium over
the DevTools protocol): the static site ``lab catalogue publish`` writes, and the service's pages.

Each: the page opens in the default language (``zh-CN``: ``<html lang>``, a Chinese verdict word
in a matrix cell), the switch leads to English (``lang="en"``, the English word), and the links
of an English page stay English.
"""

from __future__ import annotations

import httpx
import pytest

from lab.catalogue.db import open_catalogue
from lab.catalogue.publish import publish
from lab.catalogue.record import record_run
from lab.certs.keys import load_or_create
from tests.browser import Browser
from tests.integration.portal_service import EXAMPLE, tar_gz
from tests.test_catalogue import target, write_run

pytestmark = pytest.mark.slow

CELL = "document.querySelector('td.cell[data-target=\"{t}\"] .verdict').textContent.trim()"
LANG = "document.documentElement.lang"


def click(browser: Browser, selector: str) -> None:
    """Click a link as a person does (a real click event), and wait for the next page."""
    browser.submit(f"document.querySelector({selector!r}).click()")


@pytest.fixture
def static_site(tmp_path):
    engine = open_catalogue(f"sqlite:///{tmp_path / 'catalogue.db'}")
    key = load_or_create(tmp_path / "key.pem")
    record_run(engine, write_run(tmp_path, "r1", {"t1": "failed", "t2": "passed"}, name="acme", certify_with=key,
                                 reason="install.package: acme needs GLIBC_2.38"))
    site = tmp_path / "site"
    publish(engine, site, "Lab", tmp_path / "key.pem", targets=[target("t1", "Debian 12"), target("t2", "Kylin")],
            languages=["zh-CN", "en"])
    return site


def test_the_static_site_switches_between_chinese_and_english(static_site, browser):
    browser.open((static_site / "index.html").as_uri())
    assert browser.run(LANG) == "zh-CN"
    assert browser.run(CELL.format(t="t1")) == "不通过" and browser.run(CELL.format(t="t2")) == "通过"
    assert "产品的问题" in browser.run("document.querySelector('td.cell[data-target=\"t1\"]').textContent")
    assert browser.run("document.querySelector('h1').textContent") == "兼容性矩阵"

    click(browser, "nav.langs a.lang[hreflang='en']")
    assert browser.run("location.pathname").endswith("/index.en.html")
    assert browser.run(LANG) == "en"
    assert browser.run(CELL.format(t="t1")) == "failed" and browser.run(CELL.format(t="t2")) == "passed"
    assert "the product's fault" in browser.run("document.querySelector('td.cell[data-target=\"t1\"]').textContent")

    click(browser, "#matrix tbody a")  # the product's page, still in English
    assert browser.run("location.pathname").endswith("/products/acme.en.html") and browser.run(LANG) == "en"
    click(browser, "td a[href$='.en.html']")  # its certificate, in English
    assert browser.run(LANG) == "en" and "Certificate of compatibility" in browser.dom()
    click(browser, "nav.langs a.lang[hreflang='zh-CN']")  # and back to Chinese on the same page
    assert browser.run(LANG) == "zh-CN" and "兼容性证书" in browser.dom()
    assert browser.dialogs() == []


def test_the_service_serves_each_language_and_remembers_the_choice(service, browser):
    sub_id = service.upload(tar_gz(EXAMPLE)).json()["id"]
    service.finish_cells(sub_id, verdict="passed", debian12_mariadb="failed")
    r = httpx.post(f"{service.url}/api/v1/submissions/{sub_id}/publish", timeout=60,
                   headers={"Authorization": f"Bearer {service.engineer}"})
    assert r.status_code == 200, r.text

    browser.open(f"{service.url}/")
    assert browser.run(LANG) == "zh-CN"
    assert browser.run(CELL.format(t="debian12-x86_64")) == "通过"
    assert browser.run(CELL.format(t="debian12-mariadb")) == "不通过"

    click(browser, "nav.langs a.lang[hreflang='en']")
    assert browser.run("location.search") == "?lang=en" and browser.run(LANG) == "en"
    assert browser.run(CELL.format(t="debian12-x86_64")) == "passed"
    assert browser.run(CELL.format(t="debian12-mariadb")) == "failed"
    click(browser, "#matrix tbody a")  # a link of an English page keeps the language
    assert browser.run("location.pathname") == "/products/acme-calc.html" and browser.run(LANG) == "en"
    browser.open(f"{service.url}/")  # no ?lang: the cookie the switch left
    assert browser.run(LANG) == "en" and browser.run(CELL.format(t="debian12-x86_64")) == "passed"
    assert httpx.get(f"{service.url}/", timeout=30).headers["content-language"] == "zh-CN"  # no cookie: default
    assert httpx.get(f"{service.url}/?lang=xx", timeout=30).headers["content-language"] == "zh-CN"
