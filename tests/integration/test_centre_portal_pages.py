"""The centre's portal for real in Debian's Chromium (driven over the DevTools protocol on a pipe:
no network, no extra package; the service: tests/integration/portal_service.py): a vendor uploads and
reads its pages in Chinese or English, an engineer publishes, buyers see it, vendor markup never runs."""

from __future__ import annotations

import re

import httpx
import pytest

from lab.centre import auth
from tests.browser import text_of
from tests.integration.portal_service import ESCAPED, EXAMPLE, LANG, MARKUP, markup_probe, sign_in, tar_gz

pytestmark = pytest.mark.slow


# --- the portal in a browser ----------------------------------------------------------------------------

def test_a_vendor_uploads_through_the_portal_in_chromium_and_sees_it_queued(service, browser, tmp_path):
    archive = tmp_path / "acme-calc.tar.gz"
    archive.write_bytes(tar_gz(EXAMPLE))
    browser.open(f"{service.url}/submissions")
    assert browser.run("location.pathname") == "/login"
    browser.submit("document.getElementById('email').value = 'vendor@acme.example';"
                   "document.getElementById('password').value = 'vendor passphrase';"
                   "document.getElementById('login').submit()")
    assert browser.run("location.pathname") == "/submissions"
    assert browser.run("document.cookie") == ""  # the session cookie is HttpOnly
    browser.set_file("#submission", archive)
    browser.submit("document.getElementById('upload').submit()")
    path = browser.run("location.pathname")
    assert re.fullmatch(r"/submissions/[0-9a-f-]{36}", path), browser.dom()[-2000:]
    assert browser.run("document.getElementById('state').dataset.state") == "queued"
    assert browser.run("document.getElementById('state').textContent") == "排队中"  # zh-CN, the default
    states = browser.run("Array.from(document.querySelectorAll('#cells tbody tr td:nth-child(2)'))"
                         ".map(td => [td.dataset.state, td.textContent])")
    assert states and {tuple(s) for s in states} == {("queued", "排队中")}
    sub_id = path.rsplit("/", 1)[1]
    assert service.get(f"/api/v1/submissions/{sub_id}", service.acme).json()["state"] == "queued"
    browser.open(f"{service.url}/submissions")
    assert sub_id in browser.dom()
    assert browser.dialogs() == []


def test_a_vendors_pages_are_chinese_by_default_and_english_with_lang_en(service, browser, tmp_path):
    """The sign-in page, a submission and the list in zh-CN with no choice made; the switch (or
    ``?lang=en``) gives English, and links, forms and redirects keep it. A vendor's words (product,
    target, a check's message, a file name) are the same in both."""
    sub_id = service.upload(tar_gz(EXAMPLE)).json()["id"]
    service.finish_cells(sub_id, verdict="passed", debian12_mariadb="failed")
    state = "document.getElementById('state').textContent"
    failed = "document.querySelector('#cells tr[data-target=\"debian12-mariadb\"] td[data-verdict]')"

    browser.open(f"{service.url}/submissions/{sub_id}")  # not signed in: the sign-in page, in Chinese
    assert browser.run("location.pathname") == "/login" and browser.run(LANG) == "zh-CN"
    assert browser.run("document.querySelector('h1').textContent") == "登录"
    assert browser.run("document.querySelector('label[for=email]').textContent") == "电子邮箱"
    browser.submit("document.getElementById('email').value = 'vendor@acme.example';"
                   "document.getElementById('password').value = 'vendor passphrase';"
                   "document.getElementById('login').submit()")
    assert browser.run("location.pathname") == f"/submissions/{sub_id}" and browser.run(LANG) == "zh-CN"
    assert browser.run(state) == "已完成" and browser.run(f"{failed}.textContent") == "不通过"
    assert browser.run("document.querySelector('#cells th').textContent") == "目标环境"
    reason = browser.run(f"{failed}.nextElementSibling.textContent")
    assert reason == "install.package: refused"  # a check's message, as it is

    browser.submit("document.querySelector(\"nav.langs a.lang[hreflang='en']\").click()")
    assert browser.run("location.search") == "?lang=en" and browser.run(LANG) == "en"
    assert browser.run(state) == "finished" and browser.run(f"{failed}.textContent") == "failed"
    assert browser.run(f"{failed}.nextElementSibling.textContent") == reason
    browser.submit("document.querySelector('header a[href^=\"/submissions\"]').click()")  # the frame's link
    assert browser.run("location.pathname + location.search") == "/submissions?lang=en" and browser.run(LANG) == "en"
    assert browser.run("document.querySelector('h1').textContent") == "Submissions of ACME Software"
    badge = f"#submissions tr[data-id=\"{sub_id}\"] .badge[data-target=\"debian12-mariadb\"]"
    assert browser.run(f"document.querySelector('{badge}').textContent") == "debian12-mariadb: failed"

    bad = tmp_path / "manual <1>.zip"  # refused in English, the file's name as it is
    bad.write_bytes(b"PK\x03\x04 a broken zip")
    browser.set_file("#submission", bad)
    browser.submit("document.getElementById('upload').submit()")
    problems = browser.run("document.getElementById('problems').textContent")
    assert "The upload was refused (manual <1>.zip); nothing was kept" in problems and browser.run(LANG) == "en"

    browser.open(f"{service.url}/submissions")  # no ?lang: the cookie the switch left
    assert browser.run(LANG) == "en"
    browser.open(f"{service.url}/submissions?lang=zh-CN")  # and back
    assert browser.run("document.querySelector('h1').textContent") == "ACME Software 的送测申请"
    assert browser.run(f"document.querySelector('{badge}').textContent") == "debian12-mariadb: 不通过"
    browser.set_file("#submission", bad)
    browser.submit("document.getElementById('upload').submit()")
    problems = browser.run("document.getElementById('problems').textContent")
    assert "上传被拒绝（manual <1>.zip），未保存任何内容" in problems  # noqa: RUF001
    browser.submit("document.querySelector('header form').submit()")  # sign out: the matrix, still Chinese
    assert browser.run("location.pathname") == "/" and browser.run(LANG) == "zh-CN"

    browser.open(f"{service.url}/console?lang=en")  # signed out, English asked: the sign-in page in English
    assert browser.run("location.pathname + location.search") == "/login?next=/console&lang=en"
    assert browser.run(LANG) == "en" and browser.run("document.querySelector('h1').textContent") == "Sign in"
    browser.submit("document.getElementById('email').value = 'vendor@acme.example';"
                   "document.getElementById('password').value = 'nope';"
                   "document.getElementById('login').submit()")
    assert browser.run("document.getElementById('login-failed').textContent").startswith("Wrong e-mail or password.")
    r = httpx.get(f"{service.url}/console", timeout=30, follow_redirects=False)
    assert r.headers["location"] == "/login?next=/console"  # no choice made: the default, unchanged
    assert httpx.get(f"{service.url}/login", timeout=30).headers["content-language"] == "zh-CN"
    assert browser.dialogs() == []


# --- an engineer publishes; buyers see it ---------------------------------------------------------------

def test_an_engineer_publishes_and_the_buyers_page_shows_it(service, browser):
    sub_id = service.upload(tar_gz(EXAMPLE)).json()["id"]
    r = service.get(f"/api/v1/submissions/{sub_id}/certificates/debian12-x86_64")
    assert r.status_code == 404  # not published: nobody without a token sees it
    assert httpx.post(f"{service.url}/api/v1/submissions/{sub_id}/publish", timeout=30,
                      headers={"Authorization": f"Bearer {service.engineer}"}).status_code == 409  # unfinished
    service.finish_cells(sub_id)
    detail = service.get(f"/api/v1/submissions/{sub_id}", service.acme).json()
    assert detail["state"] == "finished" and {c["verdict"] for c in detail["cells"]} == {"passed"}
    verdicts = service.get(f"/api/v1/submissions/{sub_id}/verdicts", service.acme).json()
    assert set(verdicts["targets"]) == {c["target"] for c in detail["cells"]}
    cert = service.get(f"/api/v1/submissions/{sub_id}/certificates/debian12-x86_64", service.acme).json()
    assert cert["certificate"]["target"]["name"] == "debian12-x86_64"
    report = service.get(f"/api/v1/submissions/{sub_id}/report", service.acme)  # the cells' results, merged
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html"), report.text[:500]
    assert "connect-src data: blob:" in report.headers["content-security-policy"]  # it reaches nothing of ours
    assert "acme-calc" in report.text
    matrix = service.get("/api/v1/catalogue/matrix.json").json()
    assert "acme-calc" not in {p["name"] for p in matrix["products"]}  # only what is published
    for token in (service.acme, service.other):
        r = httpx.post(f"{service.url}/api/v1/submissions/{sub_id}/publish", timeout=30,
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == (403 if token == service.acme else 404)

    r = httpx.post(f"{service.url}/api/v1/submissions/{sub_id}/publish", timeout=60,
                   headers={"Authorization": f"Bearer {service.engineer}"})
    assert r.status_code == 200 and r.json()["published"] is True

    matrix = service.get("/api/v1/catalogue/matrix.json").json()
    row = next(p for p in matrix["products"] if p["name"] == "acme-calc")
    assert row["results"]["debian12-x86_64"]["verdict"] == "passed"
    link = row["results"]["debian12-x86_64"]["certificate_page"]
    assert service.get("/" + row["results"]["debian12-x86_64"]["report"]).text == report.text
    assert service.get(f"/api/v1/submissions/{sub_id}/certificates/debian12-x86_64").status_code == 200
    browser.open(f"{service.url}/")
    cell = browser.run("document.querySelector('td.cell[data-target=\"debian12-x86_64\"]').className")
    assert cell == "cell passed"
    assert browser.run("document.querySelector('a[href=\"products/acme-calc.html\"]').textContent") == "acme-calc"
    browser.open(f"{service.url}/{link}?lang=en")  # the default language is zh-CN (test_buyers_i18n)
    assert "Certificate of compatibility" in browser.dom()
    assert browser.run("document.querySelector('a.signed-json').href").endswith(".json")
    assert service.get("/" + link.replace(".html", ".json")).json()["certificate"]["run"] == verdicts["run"]


def test_the_console_shows_queues_and_publishes_with_its_button(service, browser):
    sub_id = service.upload(tar_gz(EXAMPLE)).json()["id"]
    browser.open(f"{service.url}/login?next=/console")
    browser.submit("document.getElementById('email').value = 'engineer@lab.example';"
                   "document.getElementById('password').value = 'engineer passphrase';"
                   "document.getElementById('login').submit()")
    assert browser.run("location.pathname") == "/console"
    queued = browser.run("document.querySelector('#queues tr[data-target=\"debian12-x86_64\"] td:nth-child(2)')"
                         ".textContent")
    assert int(queued) >= 1
    service.finish_cells(sub_id, "failed")
    browser.open(f"{service.url}/console")
    assert browser.run(f"!!document.querySelector('#to-publish tr[data-id=\"{sub_id}\"]')")
    browser.submit(f"document.querySelector('#to-publish tr[data-id=\"{sub_id}\"] form').submit()")
    assert browser.run("document.getElementById('notice').dataset.did") == "published"
    assert "acme-calc" in browser.run("document.getElementById('notice').textContent")
    assert "已发布" in browser.run("document.getElementById('notice').textContent")
    assert service.get(f"/api/v1/submissions/{sub_id}", service.engineer).json()["published"] is True


def test_vendor_markup_is_escaped_on_every_page(service, browser, tmp_path):
    # the vendor name is the uploading organisation's (an engineer typed it, markup and all)
    evil = f"Evil {MARKUP} Ltd"
    with service.session() as s:
        auth.create_org(s, evil)
        auth.create_user(s, "evil@evil.example", "vendor passphrase", org=evil)
        _, token = auth.create_token(s, org=evil)
    r = service.upload(markup_probe(tmp_path), token)
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    service.finish_cells(sub_id, reason=f"install.package: {MARKUP}", debian12_mariadb="broken",
                         debian13_x86_64="failed")
    assert httpx.post(f"{service.url}/api/v1/submissions/{sub_id}/publish", timeout=60,
                      headers={"Authorization": f"Bearer {service.engineer}"}).status_code == 200
    row = next(p for p in service.get("/api/v1/catalogue/matrix.json").json()["products"]
               if p["name"] == "markup-probe")
    assert row["vendor"] == f"Evil {MARKUP} Ltd"  # JSON carries it as data
    public = ["/", "/products/markup-probe.html", "/" + row["results"]["debian12-x86_64"]["certificate_page"]]
    for path in public:
        page = service.get(path).text
        assert MARKUP not in page and ESCAPED in page, path
    with httpx.Client(base_url=service.url, timeout=60) as client:
        for email, password, pages in (
                ("evil@evil.example", "vendor passphrase", ["/submissions", f"/submissions/{sub_id}"]),
                ("engineer@lab.example", "engineer passphrase",
                 ["/console", "/submissions", f"/submissions/{sub_id}"])):
            client.cookies.clear()
            sign_in(client, email, password)
            for path in pages:
                page = client.get(path).text
                assert MARKUP not in page and ESCAPED in page, path
    for path in public:  # and in a real browser: the text shows, no script runs
        browser.open(f"{service.url}{path}")
        assert MARKUP in text_of(browser.dom())
        assert browser.run("document.querySelectorAll('script').length") <= 1  # the matrix's own filter
    browser.open(f"{service.url}/login")
    browser.submit("document.getElementById('email').value = 'evil@evil.example';"
                   "document.getElementById('password').value = 'vendor passphrase';"
                   "document.getElementById('login').submit()")
    browser.open(f"{service.url}/submissions/{sub_id}")
    assert MARKUP in text_of(browser.dom())
    assert browser.dialogs() == []


def test_a_nul_or_a_number_past_64_bits_is_refused_not_a_server_error(service):
    """A hostile review: four requests with %00 or a 20-digit cell id answered 500 and wrote 38 KB
    of tracebacks to the API's log (PostgreSQL refuses a NUL in text and a number past bigint)."""
    for path in ("/api/v1/submissions/%00", "/reports/%00.html", "/certificates/%00/x.html"):
        r = service.get(path, service.acme)
        assert r.status_code in (404, 422), (path, r.status_code, r.text[:200])
    with httpx.Client(base_url=service.url, timeout=60) as vendor:
        sign_in(vendor, "engineer@lab.example", "engineer passphrase")
        r = vendor.get("/submissions/%00")
        assert r.status_code in (404, 422), r.text[:200]
        assert vendor.get("/console?requeued=" + "9" * 23).status_code == 200  # no such notice: the console
    r = httpx.post(f"{service.url}/api/v1/worker/cells/9223372036854775808/heartbeat",
                   headers={"Authorization": "Bearer junk"})
    assert r.status_code in (403, 404, 422), r.text[:200]
