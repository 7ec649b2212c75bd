"""The centre's API and portal served for real, for the tests of tests/integration/test_centre_portal*.py
and test_buyers_i18n.py (their ``service`` fixture is in tests/integration/conftest.py): PostgreSQL and
RabbitMQ from the ``engines`` fixture (a database and a virtual host of the module's own), the service
under uvicorn on a free loopback port, accounts made with lab.centre.auth.

No worker runs: a cell is marked done directly in the database, with the results folder the
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
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from lab.centre.engines import PG_BIN, free_port
from lab.centre.models import Cell, Submission
from tests.centre_app import people
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "acme-calc"
MAX_UPLOAD = 1 << 20
MARKUP = "<script>alert(1)</script>"
LANG = "document.documentElement.lang"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# --- the service --------------------------------------------------------------------------------------

def psql(pg, sql: str) -> None:
    """``sql`` as PostgreSQL's superuser on the tests' own cluster."""
    subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", str(pg.home), "-p",
                    str(pg.port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, cwd="/", capture_output=True)


def new_database(pg, prefix: str) -> str:
    """A fresh database owned by the service's role: its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    psql(pg, f"create database {name} owner lab")
    return pg.url().rsplit("/", 1)[0] + f"/{name}"


def drop_database(pg, url: str) -> None:
    psql(pg, f"drop database if exists {url.rsplit('/', 1)[1]} with (force)")


class Service:
    """The API on uvicorn over a fresh database and vhost; accounts made with lab.centre.auth."""

    def __init__(self, pg, rabbit, home: Path):
        self.pg, self.rabbit, self.home = pg, rabbit, home
        self.db_url = new_database(pg, "portal")
        self.vhost = f"portal-{uuid.uuid4().hex[:8]}"
        assert rabbit.ctl("add_vhost", self.vhost).returncode == 0
        assert rabbit.ctl("set_permissions", "-p", self.vhost, "lab", ".*", ".*", ".*").returncode == 0
        self.storage = home / "storage"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("LAB_")},
                    "LAB_SIGNING_KEY": os.environ["LAB_SIGNING_KEY"], "PYTHONUNBUFFERED": "1",
                    "LAB_DATABASE_URL": self.db_url, "LAB_BROKER_URL": rabbit.url().rstrip("/") + f"/{self.vhost}",
                    "LAB_STORAGE": str(self.storage), "LAB_SERVICE_URL": self.url,
                    "LAB_INVENTORY": str(ROOT / "targets.toml"), "LAB_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}
        self.log = home / "api.log"
        self.proc: subprocess.Popen | None = None
        self.engine = None

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
        drop_database(self.pg, self.db_url)
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


@contextlib.contextmanager
def running(engines, tmp_path_factory):
    """The service for one test module, stopped after it; its log never shows a traceback."""
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
    for key, value in (("name", "markup-probe"), ("version", f"0.9.0{MARKUP}"), ("vendor", f"Evil {MARKUP} Ltd"),
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
