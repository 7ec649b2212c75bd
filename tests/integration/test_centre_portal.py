"""The API and the portal for real: PostgreSQL and RabbitMQ from the ``engines`` fixture (a database
and a virtual host of this module's own), the service under uvicorn on a free loopback port, httpx
as a vendor's script and Debian's Chromium as a vendor's and a buyer's browser (driven over the
DevTools protocol on a pipe: no network, no extra package).

No worker runs here: a cell is marked done directly in the database, with the results folder the
ledger's worker API would have stored (verdicts.json, a certificate signed with the session's test
key), so an engineer can publish it and the buyers' pages show it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from lab.centre import auth
from lab.centre.engines import PG_BIN, free_port
from lab.centre.models import Cell, Submission
from tests.browser import text_of
from tests.centre_app import people
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "acme-calc"
MAX_UPLOAD = 1 << 20
MARKUP = "<script>alert(1)</script>"
LANG = "document.documentElement.lang"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# --- the service --------------------------------------------------------------------------------------

class Service:
    """The API on uvicorn over a fresh database and vhost; accounts made with lab.centre.auth."""

    def __init__(self, pg, rabbit, home: Path):
        self.pg, self.rabbit, self.home = pg, rabbit, home
        self.database = f"portal_{uuid.uuid4().hex[:10]}"
        self._psql(f"create database {self.database} owner lab")
        self.vhost = f"portal-{uuid.uuid4().hex[:8]}"
        assert rabbit.ctl("add_vhost", self.vhost).returncode == 0
        assert rabbit.ctl("set_permissions", "-p", self.vhost, "lab", ".*", ".*", ".*").returncode == 0
        self.storage = home / "storage"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = pg.url().rsplit("/", 1)[0] + f"/{self.database}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("LAB_")},
                    "LAB_SIGNING_KEY": os.environ["LAB_SIGNING_KEY"], "PYTHONUNBUFFERED": "1",
                    "LAB_DATABASE_URL": self.db_url, "LAB_BROKER_URL": rabbit.url().rstrip("/") + f"/{self.vhost}",
                    "LAB_STORAGE": str(self.storage), "LAB_SERVICE_URL": self.url,
                    "LAB_INVENTORY": str(ROOT / "targets.toml"), "LAB_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}
        self.log = home / "api.log"
        self.proc: subprocess.Popen | None = None
        self.engine = None

    def _psql(self, sql: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", str(self.pg.home), "-p",
                        str(self.pg.port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
                       check=True, cwd="/", capture_output=True)

    def start(self) -> None:
        with self.log.open("ab") as log:  # the working folder has no .env: the settings are the environment
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "lab.centre.api:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"],
                cwd=self.home, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, f"the API exited:\n{self.log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"the API did not answer:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.3)
        self.engine = create_engine(self.db_url)
        with self.session() as s:
            self.acme_row, self.acme, self.other, self.engineer = people(s, "vendor passphrase", "engineer@lab.example",
                                                                         "engineer passphrase")

    @contextlib.contextmanager
    def session(self):
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.engine is not None:
            self.engine.dispose()
        self._psql(f"drop database if exists {self.database} with (force)")
        self.rabbit.ctl("delete_vhost", self.vhost)

    # --- what a vendor's script and the tests do ---------------------------------------------------

    def upload(self, archive: bytes, token: str | None = None, name: str = "acme-calc.tar.gz") -> httpx.Response:
        return httpx.post(f"{self.url}/api/v1/submissions", files={"submission": (name, archive)},
                          headers={"Authorization": f"Bearer {token or self.acme}"}, timeout=120)

    def get(self, path: str, token: str | None = None, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=60, **kw)

    def counts(self) -> tuple[int, int, list[str]]:
        """(submissions, cells, files left in the storage's spool): what uploads have kept."""
        with self.session() as s:
            subs = s.scalar(select(func.count()).select_from(Submission))
            cells = s.scalar(select(func.count()).select_from(Cell))
        spool = self.storage / "tmp"
        return subs, cells, sorted(p.name for p in spool.iterdir()) if spool.exists() else []

    def stored(self) -> set[str]:
        folder = self.storage / "submissions"
        return {p.name for p in folder.iterdir()} if folder.exists() else set()

    def queue_depths(self) -> dict[str, int]:
        r = self.rabbit.ctl("list_queues", "-p", self.vhost, "name", "messages", "-q")
        rows = [line.split() for line in r.stdout.splitlines()]
        return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}

    def finish_cells(self, sub_id: str, verdict: str = "passed", reason: str = "install.package: refused",
                     **others: str) -> None:
        """Each cell done as the ledger's worker API leaves it: its results folder (verdicts.json and,
        if it passed, a certificate signed with the session's key) and its row. ``others``: another
        verdict for some targets (``debian12_mariadb="broken"``)."""
        from lab.certs.issue import issue_certificates
        from lab.inventory import load_inventory
        from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts

        inv = load_inventory(ROOT / "targets.toml")
        now = datetime.now(UTC)
        with self.session() as s:
            sub = s.get(Submission, sub_id)
            for cell in s.scalars(select(Cell).where(Cell.submission_id == sub_id)):
                rel = f"submissions/{sub_id}/cells/{cell.target}"
                said = others.get(cell.target.replace("-", "_"), verdict)
                result = TargetResult(verdict=said, reason="" if said == "passed" else reason,
                                      facts={"arch": "x86_64", "os_name": "Debian GNU/Linux 12"},
                                      checks=[Check(id="install.package", outcome=said)])
                v = Verdicts(run=sub.run_id, harness="test", started=now.isoformat(), finished=now.isoformat(),
                             submission=SubmissionRef(name=sub.product, version=sub.version, vendor=sub.vendor,
                                                      artifacts=[ArtifactRef(**a) for a in sub.artifacts]),
                             targets={cell.target: result})
                folder = self.storage / rel
                (folder / "allure-results").mkdir(parents=True)
                (folder / "verdicts.json").write_text(v.dump())
                at = int(now.timestamp() * 1000)
                (folder / "allure-results" / f"{uuid.uuid4()}-result.json").write_text(json.dumps({
                    "uuid": str(uuid.uuid4()), "name": f"install.package on {cell.target}", "status": said,
                    "fullName": "test_install#test_package", "start": at, "stop": at + 5,
                    "labels": [{"name": "parentSuite", "value": cell.target}, {"name": "suite", "value": "install"}]}))
                issue_certificates(v, folder, inv.model.lab, only={cell.target})
                cell.state, cell.reason, cell.results = said, result.reason, rel
                cell.started_at = cell.finished_at = now
            sub.state, sub.finished = "finished", now


@pytest.fixture(scope="module")
def service(engines, tmp_path_factory):
    if not list(EXAMPLE.glob("acme-calc_*.deb")):  # a fresh checkout: build the one package needed
        sys.path.insert(0, str(ROOT))
        from examples.build import acme_calc

        acme_calc()
    pg, rabbit = engines
    svc = Service(pg, rabbit, tmp_path_factory.mktemp("centre-portal"))
    try:
        svc.start()
        yield svc
    finally:
        svc.close()
    assert "Traceback" not in svc.log.read_text(), svc.log.read_text()[-3000:]


def tar_gz(folder: Path, top: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(folder, arcname=top or folder.name)
    return buf.getvalue()


def tar_members(members: list[tuple[str, bytes, str]]) -> bytes:
    """(name, kind: b"0" file / tarfile.SYMTYPE, link target) each, as a .tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o644
            tf.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def markup_probe(tmp_path: Path) -> bytes:
    """acme-calc renamed, its vendor, version and summary carrying markup (the name cannot)."""
    folder = tmp_path / "markup-probe"
    shutil.copytree(EXAMPLE, folder)
    manifest = (folder / "submission.toml").read_text()
    for key, value in (("name", "markup-probe"), ("version", f"1.0{MARKUP}"), ("vendor", f"Evil {MARKUP} Ltd"),
                       ("summary", f"adds {MARKUP}")):
        manifest = re.sub(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", manifest, count=1)
    (folder / "submission.toml").write_text(manifest)
    return tar_gz(folder)


def sign_in(client: httpx.Client, email: str, password: str) -> str:
    """Sign in through the login form; the session's CSRF token."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"email": email, "password": password, "csrf": csrf})
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/submissions").text).group(1)


# --- a vendor's script --------------------------------------------------------------------------------

def test_a_vendor_uploads_acme_calc_with_httpx_and_sees_it_queued(service):
    before = service.queue_depths()
    archive = tar_gz(EXAMPLE)
    r = service.upload(archive)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "state", "url"} and body["state"] == "queued"
    assert body["url"] == f"{service.url}/api/v1/submissions/{body['id']}"
    detail = service.get(f"/api/v1/submissions/{body['id']}", service.acme).json()
    enabled = ["debian12-x86_64", "debian13-x86_64", "debian12-aarch64", "debian12-postgresql", "debian12-mariadb",
               "debian12-ukui-x86_64", "board-debian12-x86_64", "board-debian12-aarch64"]
    assert detail["product"] == "acme-calc" and detail["state"] == "queued" and detail["published"] is False
    assert [c["target"] for c in detail["cells"]] == enabled
    assert all(c == {"target": c["target"], "state": "queued", "verdict": None, "reason": "", "attempts": 1}
               for c in detail["cells"])
    depths = service.queue_depths()  # one task per cell, in its target's queue, in this module's vhost
    assert all(depths.get(f"target.{t}", 0) == before.get(f"target.{t}", 0) + 1 for t in enabled), depths
    assert (service.storage / "submissions" / body["id"] / "submission.tar.gz").read_bytes() == archive
    listed = service.get("/api/v1/submissions", service.acme).json()
    assert listed[0]["id"] == body["id"]
    for path in ("", "/verdicts", "/report", "/certificates/debian12-x86_64"):
        r = service.get(f"/api/v1/submissions/{body['id']}{path}", service.other)
        assert (r.status_code, r.json()) == (404, {"detail": "no such submission"}), path
    assert body["id"] not in {s["id"] for s in service.get("/api/v1/submissions", service.other).json()}
    doc = service.get("/api/v1/openapi.json").json()
    assert "/api/v1/submissions/{submission_id}/publish" in doc["paths"]


def _streamed(size: int, boundary: str = "lab-boundary"):
    """A multipart body sent in chunks without a Content-Length (chunked transfer)."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"submission\"; filename=\"big.tar.gz\"\r\n"
           "Content-Type: application/gzip\r\n\r\n").encode()
    chunk = b"\x1f\x8b" + os.urandom(64 << 10)
    sent = 0
    while sent < size:
        yield chunk
        sent += len(chunk)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_bad_uploads_are_refused_clearly_and_nothing_is_kept(service, tmp_path):
    before = service.counts()
    stored = service.stored()

    r = service.upload(b"\x1f\x8b" + os.urandom(3 * MAX_UPLOAD))  # declared too large
    assert r.status_code == 413 and str(MAX_UPLOAD) in r.json()["detail"]
    r = httpx.post(f"{service.url}/api/v1/submissions", content=_streamed(4 * MAX_UPLOAD), timeout=60,
                   headers={"Authorization": f"Bearer {service.acme}",
                            "Content-Type": "multipart/form-data; boundary=lab-boundary"})
    assert r.status_code == 413, r.text  # streamed: stopped at the limit while reading

    many = tar_members([(f"m/{i}", tarfile.REGTYPE, "") for i in range(10_001)])
    cases = [
        (many, "many.tar.gz", "archive", "more than 10000 members"),
        (tar_members([("../escape.txt", tarfile.REGTYPE, "")]), "dots.tar.gz", "../escape.txt", "'..'"),
        (tar_members([("acme/out", tarfile.SYMTYPE, "/etc/shadow")]), "link.tar.gz", "acme/out", "link"),
        (b"%PDF-1.4 not an archive at all", "manual.pdf", "archive", "not a .tar.gz or .zip"),
        (b"PK\x03\x04 a broken zip", "broken.zip", "archive", "not a readable archive"),
    ]
    for archive, name, field, says in cases:
        r = service.upload(archive, name=name)
        assert r.status_code == 422, (name, r.text)
        problems = r.json()["problems"]
        assert all(set(p) == {"file", "field", "message"} for p in problems)
        assert any(p["file"] == name and p["field"] == field and says in p["message"] for p in problems), problems
    assert service.counts() == before and service.stored() == stored

    r = service.upload(tar_gz(EXAMPLE), token=service.acme[:-3] + "xyz")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    with service.session() as s:
        revoked_row, revoked = auth.create_token(s, org="ACME Software")
        _, expired = auth.create_token(s, org="ACME Software", expires=datetime.now(UTC) - timedelta(minutes=1))
    assert service.upload(tar_gz(EXAMPLE), token=revoked).status_code == 201  # valid until revoked
    with service.session() as s:
        auth.revoke_token(s, revoked_row.id)
    before, stored = service.counts(), service.stored()
    r = service.upload(tar_gz(EXAMPLE), token=revoked)
    assert (r.status_code, r.json()) == (401, {"detail": "this token is revoked"})
    r = service.upload(tar_gz(EXAMPLE), token=expired)
    assert (r.status_code, r.json()) == (401, {"detail": "this token has expired"})
    assert service.counts() == before and service.stored() == stored


def test_a_form_post_without_its_csrf_token_is_403(service):
    with httpx.Client(base_url=service.url, timeout=60) as client:
        csrf = sign_in(client, "vendor@acme.example", "vendor passphrase")
        before, stored = service.counts(), service.stored()
        r = client.post("/submissions", files={"submission": ("acme-calc.tar.gz", tar_gz(EXAMPLE))})
        assert r.status_code == 403 and "CSRF" in r.text
        r = client.post("/submissions", files={"submission": ("acme-calc.tar.gz", tar_gz(EXAMPLE))},
                        data={"csrf": csrf[::-1]})
        assert r.status_code == 403
        assert service.counts() == before and service.stored() == stored
        assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    with httpx.Client(base_url=service.url, timeout=60) as fresh:
        fresh.get("/login")
        r = fresh.post("/login", data={"email": "vendor@acme.example", "password": "vendor passphrase"})
        assert r.status_code == 403


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
    assert browser.run("document.getElementById('login-failed').textContent") == "Wrong e-mail or password."
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
