"""The centre's app in process for the tests (FastAPI's TestClient, SQLite, no broker), and the
submissions they upload: shared by the tests/test_centre_*.py modules that import its fixtures."""

from __future__ import annotations

import io
import re
import shutil
import tarfile
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lab.centre import auth
from lab.centre.api import create_app
from lab.centre.models import Cell, Submission
from lab.settings import Settings
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "acme-calc"
MAX_UPLOAD = 256 << 10
MEMBERS_MAX = 50


# --- building submissions ---------------------------------------------------------------------------

def folder_like_acme(tmp_path: Path, name: str = "acme-calc", **product) -> Path:
    """examples/acme-calc, its [product] changed as given."""
    dest = tmp_path / f"src-{name}-{len(list(tmp_path.glob('src-*')))}"
    shutil.copytree(EXAMPLE, dest)
    deb = dest / "acme-calc_0.9.0_all.deb"
    if not deb.exists():  # not built on this machine yet: an upload only checks that it is there
        deb.write_bytes(b"!<arch>\n")
    manifest = (dest / "submission.toml").read_text()
    fields = {"name": name, **product}
    for key, value in fields.items():
        line = f"{key} = {_toml(value)}"
        manifest, n = re.subn(rf"(?m)^{key} = .*$", line.replace("\\", "\\\\"), manifest, count=1)
        if n == 0:
            manifest = manifest.replace("[product]\n", f"[product]\n{line}\n", 1)
    (dest / "submission.toml").write_text(manifest)
    return dest


def _toml(value: str) -> str:
    import json

    return json.dumps(value)


def tar_gz(folder: Path, top: str = "acme-calc") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(folder, arcname=top)
    return buf.getvalue()


# --- the service in process -------------------------------------------------------------------------

def people(s, vendor_password: str, engineer: str, engineer_password: str):
    """Two vendors (ACME Software with a user, Other Vendor) and an engineer, each with a token:
    (ACME's token row, ACME's token, Other Vendor's token, the engineer's token)."""
    auth.create_org(s, "ACME Software", vendor="ACME Software Co., Ltd.")  # the examples' vendor
    auth.create_org(s, "Other Vendor")
    auth.create_user(s, "vendor@acme.example", vendor_password, org="ACME Software")
    auth.create_user(s, engineer, engineer_password, engineer=True)
    acme_row, acme = auth.create_token(s, org="ACME Software")
    _, other = auth.create_token(s, org="Other Vendor")
    _, engineer_token = auth.create_token(s, engineer=engineer)
    return acme_row, acme, other, engineer_token


class Centre:
    """The app on a SQLite database in a temporary folder; cells enqueued into a list."""

    def __init__(self, tmp_path: Path, template: Path | None, fail_enqueue: bool = False,
                 database_url: str | None = None):
        """``database_url``: another database than the SQLite ``template``'s copy (a real PostgreSQL)."""
        if database_url is None:
            shutil.copyfile(template, tmp_path / "centre.db")
        inventory = tmp_path / "targets.toml"
        inventory.write_text((ROOT / "targets.toml").read_text().replace(
            "limits = { install_timeout = 300, command_timeout = 120 }",
            f"limits = {{ install_timeout = 300, command_timeout = 120, archive_max_members = {MEMBERS_MAX} }}"))
        self.storage = tmp_path / "storage"
        self.settings = Settings(database_url=database_url or f"sqlite:///{tmp_path / 'centre.db'}",
                                 storage=self.storage,
                                 inventory=inventory, broker_url="amqp://lab:none@127.0.0.1:9//",
                                 max_upload_bytes=MAX_UPLOAD)
        self.queued: list[tuple[int, str]] = []

        def enqueue(cell, settings):
            if fail_enqueue:
                raise ConnectionRefusedError("no broker here")
            self.queued.append((cell.id, cell.target))

        self.app = create_app(self.settings, enqueue=enqueue)
        self.engine = self.app.state.engine
        self.client = TestClient(self.app)
        with self.session() as s:
            self.acme_row, self.acme, self.other, self.engineer = people(s, "correct horse", "eng@lab.example",
                                                                         "battery staple")

    def session(self):
        class _Tx:
            def __enter__(inner):
                inner.s = Session(self.engine, expire_on_commit=False)
                inner.s.begin()
                return inner.s

            def __exit__(inner, kind, *rest):
                (inner.s.rollback if kind else inner.s.commit)()
                inner.s.close()
        return _Tx()

    def upload(self, archive: bytes, token: str | None = None, name: str = "acme-calc.tar.gz"):
        headers = {"Authorization": f"Bearer {token or self.acme}"}
        return self.client.post("/api/v1/submissions", files={"submission": (name, archive)}, headers=headers)

    def submissions(self) -> int:
        with Session(self.engine) as s:
            return s.scalar(select(func.count()).select_from(Submission))

    def stored(self) -> list[Path]:
        """What uploads left in the storage: submissions' folders and the spool's files."""
        return [p for p in (self.storage / "submissions").glob("*")] + [p for p in (self.storage / "tmp").glob("*")]

    def finish(self, sub_id: str, verdict: str = "passed") -> None:
        with self.session() as s:
            s.execute(update(Cell).where(Cell.submission_id == sub_id).values(state=verdict))

    def sign_in(self, email: str, password: str) -> str:
        page = self.client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = self.client.post("/login", data={"email": email, "password": password, "csrf": csrf},
                             follow_redirects=False)
        assert r.status_code == 303, r.text
        return re.search(r'name="csrf" value="([^"]+)"', self.client.get("/submissions").text).group(1)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def race_for_the_last_place(centre: Centre, tmp_path: Path, monkeypatch) -> list[int]:
    """Two uploads at once for an organisation with one place left, each count holding its
    transaction open half a second so that both are inside at once: their status codes."""
    import threading
    import time

    from lab.centre import intake

    centre.settings.max_pending_per_org = 1
    archives = [tar_gz(folder_like_acme(tmp_path, name)) for name in ("acme-one", "acme-two")]
    counted = intake._room

    def slow_room(s, *args):
        counted(s, *args)
        time.sleep(0.5)

    monkeypatch.setattr(intake, "_room", slow_room)
    codes: list[int] = []
    uploads = [threading.Thread(target=lambda a=a: codes.append(centre.upload(a).status_code)) for a in archives]
    for upload in uploads:
        upload.start()
    for upload in uploads:
        upload.join(timeout=60)
    return sorted(codes)
