"""The centre's API and portal in process (FastAPI's TestClient, SQLite, no broker): tokens and
passwords, who sees what (401, and 404 for another organisation's submission on every path), the
shape of refusals (422 problems, 413), CSRF, escaping. The real engines are in
tests/integration/test_centre_portal.py."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lab.centre import auth
from lab.centre.api import create_app
from lab.centre.intake import problems_of
from lab.centre.models import ApiToken, Cell, Submission
from lab.centre.upload import Problem, Rejected, Upload, UploadTooLarge, receive_upload
from lab.errors import InputError
from lab.hashing import sha256_text
from lab.settings import Settings
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "acme-calc"
MAX_UPLOAD = 256 << 10
MEMBERS_MAX = 50
CONTRACT_PATHS = {"/api/v1/submissions", "/api/v1/submissions/{submission_id}",
                  "/api/v1/submissions/{submission_id}/verdicts", "/api/v1/submissions/{submission_id}/report",
                  "/api/v1/submissions/{submission_id}/certificates/{target}",
                  "/api/v1/submissions/{submission_id}/publish", "/api/v1/catalogue/matrix.json", "/api/v1/health"}


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


def tar_with(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info in members:
            payload = (data or {}).get(info.name)
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


# --- the service in process -------------------------------------------------------------------------

class Centre:
    """The app on a SQLite database in a temporary folder; cells enqueued into a list."""

    def __init__(self, tmp_path: Path, template: Path, fail_enqueue: bool = False):
        shutil.copyfile(template, tmp_path / "centre.db")
        inventory = tmp_path / "targets.toml"
        inventory.write_text((ROOT / "targets.toml").read_text().replace(
            "limits = { install_timeout = 300, command_timeout = 120 }",
            f"limits = {{ install_timeout = 300, command_timeout = 120, archive_max_members = {MEMBERS_MAX} }}"))
        self.storage = tmp_path / "storage"
        self.settings = Settings(database_url=f"sqlite:///{tmp_path / 'centre.db'}", storage=self.storage,
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
            auth.create_org(s, "ACME Software")
            auth.create_org(s, "Other Vendor")
            auth.create_user(s, "vendor@acme.example", "correct horse", org="ACME Software")
            auth.create_user(s, "eng@lab.example", "battery staple", engineer=True)
            self.acme_row, self.acme = auth.create_token(s, org="ACME Software")
            _, self.other = auth.create_token(s, org="Other Vendor")
            _, self.engineer = auth.create_token(s, engineer="eng@lab.example")

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


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A database migrated once for the module: each test starts from a copy."""
    from lab.catalogue.db import open_catalogue

    path = tmp_path_factory.mktemp("template") / "centre.db"
    open_catalogue(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """argon2 at its lowest cost: the tests check that it is used, not how long it takes."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(auth, "_dummy", [])


@pytest.fixture
def centre(tmp_path, template):
    return Centre(tmp_path, template)


@pytest.fixture
def acme(tmp_path) -> bytes:
    return tar_gz(folder_like_acme(tmp_path))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- tokens, passwords, sessions --------------------------------------------------------------------

def test_a_token_is_shown_once_and_only_its_hash_is_stored(centre):
    row, token = centre.acme_row, centre.acme
    assert re.fullmatch(r"lab_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    secret = token.split("_", 2)[2]
    with Session(centre.engine) as s:
        stored = s.get(ApiToken, row.id)
        assert stored.secret_sha256 == sha256_text(secret) and secret not in repr(stored.__dict__)
        assert stored.expires is not None  # a year, printed by `lab admin token create`
        assert auth.check_token(s, token).name == "ACME Software"


@pytest.mark.parametrize(("change", "said"), [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "unknown token"),
    (lambda t: "lab_0123456789abcdef_" + t.split("_", 2)[2], "unknown token"),
    (lambda t: "not-a-token", "not a token of this centre"),
])
def test_a_wrong_token_is_refused(centre, change, said):
    with Session(centre.engine) as s, pytest.raises(auth.Unauthenticated, match=said):
        auth.check_token(s, change(centre.acme))
    r = centre.client.get("/api/v1/submissions", headers=bearer(change(centre.acme)))
    assert r.status_code == 401 and said in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_revoked_and_expired_tokens_are_refused_at_once(centre, acme):
    assert centre.upload(acme).status_code == 201
    with centre.session() as s:
        auth.revoke_token(s, centre.acme_row.id)
    r = centre.upload(acme)
    assert r.status_code == 401 and r.json() == {"detail": "this token is revoked"}
    assert centre.client.get("/api/v1/submissions", headers=bearer(centre.acme)).status_code == 401
    with centre.session() as s:
        _, late = auth.create_token(s, org="ACME Software", expires=timedelta(seconds=-1))
    r = centre.upload(acme, late)
    assert r.status_code == 401 and r.json() == {"detail": "this token has expired"}
    assert centre.submissions() == 1


def test_admin_helpers_refuse_what_they_cannot_make(centre):
    with centre.session() as s:
        with pytest.raises(InputError, match="already exists"):
            auth.create_org(s, "ACME Software")
        with pytest.raises(InputError, match="at least 8 characters"):
            auth.create_user(s, "new@acme.example", "short", org="ACME Software")
        with pytest.raises(InputError, match="no organisation named"):
            auth.create_user(s, "new@acme.example", "long enough", org="Nobody")
        with pytest.raises(InputError, match="no engineer"):
            auth.create_token(s, engineer="vendor@acme.example")
        with pytest.raises(InputError, match="exactly one"):
            auth.create_token(s)
        with pytest.raises(InputError, match="no token"):
            auth.revoke_token(s, "0000000000000000")


def test_passwords_are_argon2_and_checked(centre):
    with Session(centre.engine) as s:
        user = auth.authenticate_password(s, "Vendor@ACME.example", "correct horse")
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert auth.authenticate_password(s, "vendor@acme.example", "wrong horse") is None
        assert auth.authenticate_password(s, "nobody@acme.example", "correct horse") is None


def test_the_session_cookie_is_signed_and_expires():
    secret = b"s" * 64
    cookie = auth.session_cookie(secret, 7)
    data = auth.read_session(secret, cookie)
    assert data["uid"] == 7 and data["csrf"]
    mac = cookie.split(".")[1]
    forged = auth._b64(b'{"uid": 1, "csrf": "x", "iat": %d}' % int(datetime.now(UTC).timestamp()))
    assert auth.read_session(secret, f"{forged}.{mac}") is None
    assert auth.read_session(b"t" * 64, cookie) is None
    later = datetime.now(UTC) + timedelta(seconds=auth.SESSION_SECONDS + 5)
    assert auth.read_session(secret, cookie, at=later) is None


# --- uploads ----------------------------------------------------------------------------------------

def test_an_upload_is_stored_planned_and_queued(centre, acme):
    r = centre.upload(acme)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "state", "url"} and body["state"] == "queued"
    assert r.headers["location"] == body["url"] and body["url"].endswith(f"/api/v1/submissions/{body['id']}")
    stored = centre.storage / "submissions" / body["id"] / "submission.tar.gz"
    assert stored.read_bytes() == acme
    assert not list((centre.storage / "tmp").iterdir())
    enabled = [t.name for t in centre.app.state.inventory.model.enabled]
    assert [t for _, t in centre.queued] == enabled
    detail = centre.client.get(body["url"], headers=bearer(centre.acme)).json()
    assert set(detail) >= {"id", "product", "version", "state", "published", "cells"}
    assert (detail["product"], detail["version"], detail["state"], detail["published"]) == \
        ("acme-calc", "0.9.0", "queued", False)
    assert detail["cells"] == [{"target": t, "state": "queued", "verdict": None, "reason": "", "attempts": 1}
                               for t in enabled]


def test_the_list_is_the_callers_own_newest_first(centre, acme, tmp_path):
    first = centre.upload(acme).json()["id"]
    second = centre.upload(tar_gz(folder_like_acme(tmp_path, "acme-two"))).json()["id"]
    other = centre.upload(tar_gz(folder_like_acme(tmp_path, "other-calc")), centre.other).json()["id"]
    with centre.session() as s:  # the same second: the newest by its time, whatever the ids
        s.execute(update(Submission).where(Submission.id == first)
                  .values(created=datetime.now(UTC) - timedelta(minutes=5)))
    mine = centre.client.get("/api/v1/submissions", headers=bearer(centre.acme)).json()
    assert [m["id"] for m in mine] == [second, first]
    assert {"id", "product", "version", "state", "published", "url"} <= set(mine[0])
    everyone = centre.client.get("/api/v1/submissions", headers=bearer(centre.engineer)).json()
    assert {m["id"] for m in everyone} == {first, second, other}


def test_a_disabled_target_claimed_is_broken_at_once_and_not_queued(centre, tmp_path):
    folder = folder_like_acme(tmp_path)
    (folder / "submission.toml").write_text((folder / "submission.toml").read_text()
                                            + '\n[claims]\ntargets = ["debian12-x86_64", "openeuler2203-x86_64"]\n')
    body = centre.upload(tar_gz(folder)).json()
    cells = centre.client.get(body["url"], headers=bearer(centre.acme)).json()["cells"]
    assert [t for _, t in centre.queued] == ["debian12-x86_64"]
    assert cells[1]["state"] == "done" and cells[1]["verdict"] == "broken"
    assert "disabled in this lab's inventory" in cells[1]["reason"]


def test_an_engineers_token_does_not_upload(centre, acme):
    r = centre.upload(acme, centre.engineer)
    assert r.status_code == 403 and centre.submissions() == 0


def test_a_broker_that_refuses_leaves_nothing(tmp_path, template, acme):
    centre = Centre(tmp_path, template, fail_enqueue=True)
    r = centre.upload(acme)
    assert r.status_code == 503 and "cells cannot be queued" in r.json()["detail"]
    assert centre.submissions() == 0 and centre.stored() == []


# --- refusals: 401, 404, 422, 413 -------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer lab_zz_short"])
def test_no_or_bad_authorization_is_401_and_reads_nothing(centre, acme, header):
    headers = {"Authorization": header} if header else {}
    r = centre.client.post("/api/v1/submissions", files={"submission": ("a.tar.gz", acme)}, headers=headers)
    assert r.status_code == 401 and "detail" in r.json()
    assert centre.stored() == [] and centre.submissions() == 0
    assert centre.client.get("/api/v1/submissions", headers=headers).status_code == 401


def test_another_organisations_submission_is_404_on_every_path(centre, acme):
    sub = centre.upload(acme).json()["id"]
    centre.finish(sub)
    missing = "00000000-0000-4000-8000-000000000000"
    for path in ("", "/verdicts", "/report", "/certificates/debian12-x86_64"):
        theirs = centre.client.get(f"/api/v1/submissions/{sub}{path}", headers=bearer(centre.other))
        none = centre.client.get(f"/api/v1/submissions/{missing}{path}", headers=bearer(centre.other))
        assert theirs.status_code == none.status_code == 404, path
        assert theirs.json() == none.json() == {"detail": "no such submission"}
        mine = centre.client.get(f"/api/v1/submissions/{sub}{path}", headers=bearer(centre.acme))
        assert mine.status_code == 200 or mine.json()["detail"] != "no such submission", path
    for token in (centre.other, centre.acme):
        r = centre.client.post(f"/api/v1/submissions/{sub}/publish", headers=bearer(token))
        assert r.status_code == (404 if token == centre.other else 403)
    centre.sign_in("vendor@acme.example", "correct horse")
    assert centre.client.get(f"/submissions/{sub}").status_code == 200
    with centre.session() as s:
        auth.create_user(s, "someone@other.example", "other password", org="Other Vendor")
    centre.client.cookies.clear()
    centre.sign_in("someone@other.example", "other password")
    page = centre.client.get(f"/submissions/{sub}")
    assert page.status_code == 404 and "acme-calc" not in page.text
    assert "acme-calc" not in centre.client.get("/submissions").text


def test_a_bad_manifest_is_422_with_every_problem_by_file_and_field(centre, tmp_path):
    folder = folder_like_acme(tmp_path, "Bad Name")
    text = (folder / "submission.toml").read_text().replace('path = "acme-calc_0.9.0_all.deb"',
                                                            'path = "missing_1.0_all.deb"')
    (folder / "submission.toml").write_text(text + "\n[wrong]\nx = 1\n")
    r = centre.upload(tar_gz(folder))
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert all(set(p) == {"file", "field", "message"} for p in problems)
    assert {(p["file"], p["field"]) for p in problems} >= {("acme-calc/submission.toml", "product.name"),
                                                          ("acme-calc/submission.toml", "wrong")}
    assert not any("/tmp" in p["file"] + p["message"] or "lab-submission-" in p["file"] for p in problems)
    assert centre.stored() == [] and centre.submissions() == 0


def test_a_missing_artifact_is_named_in_the_manifest(centre, tmp_path):
    folder = folder_like_acme(tmp_path)
    (folder / "acme-calc_0.9.0_all.deb").unlink()
    problems = centre.upload(tar_gz(folder)).json()["problems"]
    assert problems == [{"file": "acme-calc/submission.toml", "field": "artifacts[0].path",
                         "message": "acme-calc_0.9.0_all.deb not found in the submission"}]


@pytest.mark.parametrize(("archive", "name", "field", "says"), [
    (b"just text, no archive", "notes.txt", "archive", "not a .tar.gz or .zip"),
    (b"\x1f\x8b not really gzip", "x.tar.gz", "archive", "not a readable archive"),
    (tar_with([member("../evil.txt")], {"../evil.txt": b"x"}), "dots.tar.gz", "../evil.txt", "'..' component"),
    (tar_with([member("link", tarfile.SYMTYPE, "/etc/passwd")]), "link.tar.gz", "link", "link"),
    (tar_with([member(f"f{i}") for i in range(MEMBERS_MAX + 5)], {f"f{i}": b"" for i in range(MEMBERS_MAX + 5)}),
     "many.tar.gz", "archive", f"more than {MEMBERS_MAX} members"),
])
def test_an_unsafe_or_unreadable_archive_is_422_naming_the_member(centre, archive, name, field, says):
    r = centre.upload(archive, name=name)
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert any(p["file"] == name and p["field"] == field and says in p["message"] for p in problems), problems
    assert centre.stored() == [] and centre.submissions() == 0


def test_more_than_the_limit_is_413_and_nothing_is_kept(centre):
    r = centre.upload(b"\x1f\x8b" + b"x" * (MAX_UPLOAD + 10))
    assert r.status_code == 413 and str(MAX_UPLOAD) in r.json()["detail"]
    assert centre.stored() == [] and centre.submissions() == 0


class Streamed:
    """A request whose body comes in chunks, with no Content-Length: the limit holds while reading."""

    def __init__(self, chunks: list[bytes], boundary: str = "b0undary"):
        self.headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        self.chunks = chunks
        self.read = 0

    async def stream(self):
        for c in self.chunks:
            self.read += len(c)
            yield c


def _multipart(payload_chunks: list[bytes], boundary: str = "b0undary") -> list[bytes]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"submission\"; filename=\"a.tar.gz\"\r\n"
            "Content-Type: application/gzip\r\n\r\n").encode()
    return [head, *payload_chunks, f"\r\n--{boundary}--\r\n".encode()]


def test_a_streamed_upload_stops_at_the_limit_and_keeps_nothing(tmp_path):
    chunk = b"\x1f\x8b" + b"z" * (64 << 10)
    request = Streamed(_multipart([chunk] * 2000))  # 128 MiB if read to the end
    with pytest.raises(UploadTooLarge):
        asyncio.run(receive_upload(request, limit=1 << 20, spool=tmp_path))
    assert request.read < (1 << 20) + (17 << 20)  # the limit, then at most DRAIN_MAX dropped
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_upload_within_the_limit_is_hashed_on_the_way(tmp_path, acme):
    import hashlib

    spool = tmp_path / "spool"
    up = asyncio.run(receive_upload(Streamed(_multipart([acme[:100], acme[100:]])), limit=1 << 20, spool=spool))
    try:
        assert up.path.name == "submission.tar.gz" and up.path.read_bytes() == acme
        assert up.sha256 == hashlib.sha256(acme).hexdigest() and up.filename == "a.tar.gz"
    finally:
        up.discard()
    assert list(spool.iterdir()) == []


def test_a_form_without_the_archive_field_is_422(centre):
    r = centre.client.post("/api/v1/submissions", files={"other": ("a.tar.gz", b"x")}, headers=bearer(centre.acme))
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "submission"
    r = centre.client.post("/api/v1/submissions", content=b"{}", headers={**bearer(centre.acme),
                                                                        "Content-Type": "application/json"})
    assert r.status_code == 422 and "multipart/form-data" in r.json()["problems"][0]["message"]


def test_problems_name_the_manifest_inside_the_archive_not_a_temporary_path():
    upload = Upload(Path("/srv/spool/upload-x"), Path("/srv/spool/upload-x/submission.tar.gz"), "mine.tar.gz")
    inside = "/tmp/lab-submission-abc123/files/acme/submission.toml"
    found = problems_of(InputError(str(upload.path), [f"{inside}: artifacts[0].sha256: mismatch: a has b",
                                                      "x/../y: '..' component", "archive: more than 5 members"]),
                        upload)
    assert found == [Problem("acme/submission.toml", "artifacts[0].sha256", "mismatch: a has b"),
                     Problem("mine.tar.gz", "x/../y", "'..' component"),
                     Problem("mine.tar.gz", "archive", "more than 5 members")]
    found = problems_of(InputError(inside, ["product.name: must match [a-z0-9][a-z0-9.+_-]*"]), upload)
    assert found == [Problem("acme/submission.toml", "product.name", "must match [a-z0-9][a-z0-9.+_-]*")]
    assert isinstance(Rejected(found), InputError)


# --- reading, publishing, the buyers' side -----------------------------------------------------------

def test_an_engineer_reads_every_submission_and_publishes_a_finished_one(centre, acme):
    sub = centre.upload(acme).json()["id"]
    r = centre.client.post(f"/api/v1/submissions/{sub}/publish", headers=bearer(centre.engineer))
    assert r.status_code == 409 and "not finished" in r.json()["detail"]
    assert centre.client.get(f"/api/v1/submissions/{sub}/verdicts", headers=bearer(centre.acme)).status_code == 409
    centre.finish(sub)
    assert centre.client.get(f"/api/v1/submissions/{sub}", headers=bearer(centre.engineer)).json()["state"] == \
        "finished"
    verdicts = centre.client.get(f"/api/v1/submissions/{sub}/verdicts", headers=bearer(centre.acme)).json()
    assert verdicts["submission"]["name"] == "acme-calc" and verdicts["targets"]["debian12-x86_64"]["verdict"] == \
        "passed"
    assert "acme-calc" not in centre.client.get("/").text  # not before it is published
    r = centre.client.post(f"/api/v1/submissions/{sub}/publish", headers=bearer(centre.engineer))
    assert r.status_code == 200 and r.json()["published"] is True
    matrix = centre.client.get("/api/v1/catalogue/matrix.json").json()
    assert [p["name"] for p in matrix["products"]] == ["acme-calc"]
    assert matrix["products"][0]["results"]["debian12-x86_64"]["verdict"] == "passed"
    assert centre.client.get("/matrix.json").json()["products"] == matrix["products"]
    page = centre.client.get("/")
    assert page.status_code == 200 and 'href="products/acme-calc.html"' in page.text
    assert "ACME Software Co., Ltd." in centre.client.get("/products/acme-calc.html").text


def test_the_openapi_document_and_health(centre):
    doc = centre.client.get("/api/v1/openapi.json").json()
    assert set(doc["paths"]) >= CONTRACT_PATHS
    body = doc["paths"]["/api/v1/submissions"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["submission"]
    assert not any(p.startswith(("/login", "/console")) for p in doc["paths"])
    health = centre.client.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["database"] == "ok" and health.json()["broker"].startswith("unreachable")
    assert health.json()["status"] == "degraded"


# --- the portal -------------------------------------------------------------------------------------

def test_posts_without_their_csrf_token_are_403(centre, acme):
    page = centre.client.get("/login")
    assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
    r = centre.client.post("/login", data={"email": "vendor@acme.example", "password": "correct horse"})
    assert r.status_code == 403
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    assert centre.client.cookies.get(auth.SESSION_COOKIE)
    r = centre.client.post("/submissions", files={"submission": ("a.tar.gz", acme)}, follow_redirects=False)
    assert r.status_code == 403 and centre.submissions() == 0 and centre.stored() == []
    r = centre.client.post("/submissions", files={"submission": ("a.tar.gz", acme)}, data={"csrf": "forged"},
                           follow_redirects=False)
    assert r.status_code == 403 and centre.submissions() == 0
    r = centre.client.post("/submissions", files={"submission": ("a.tar.gz", acme)}, data={"csrf": csrf},
                           follow_redirects=False)
    assert r.status_code == 303 and centre.submissions() == 1
    assert centre.client.post("/logout", data={}).status_code == 403
    assert centre.client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303


def test_the_session_cookie_is_httponly_and_lax(centre):
    page = centre.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = centre.client.post("/login", data={"email": "vendor@acme.example", "password": "correct horse",
                                           "csrf": csrf}, follow_redirects=False)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(auth.SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    centre.client.cookies.clear()
    csrf = re.search(r'name="csrf" value="([^"]+)"', centre.client.get("/login?lang=en").text).group(1)
    wrong = centre.client.post("/login", data={"email": "vendor@acme.example", "password": "nope", "csrf": csrf})
    assert wrong.status_code == 401 and "Wrong e-mail or password" in wrong.text


def test_the_console_is_for_engineers(centre, acme):
    sub = centre.upload(acme).json()["id"]
    assert centre.client.get("/console", follow_redirects=False).headers["location"] == "/login?next=/console"
    centre.sign_in("vendor@acme.example", "correct horse")
    assert centre.client.get("/console").status_code == 403
    centre.client.cookies.clear()
    csrf = centre.sign_in("eng@lab.example", "battery staple")
    page = centre.client.get("/console?lang=en").text  # English (the default is zh-CN: tests/test_i18n.py)
    assert 'data-target="debian12-x86_64"' in page and "no live worker serves debian12-x86_64" in page
    centre.finish(sub, "broken")
    page = centre.client.get("/console").text
    assert f'href="/submissions/{sub}?lang=en"' in page and "Requeue" in page and "Publish" in page
    r = centre.client.post("/console/publish", data={"submission": sub}, follow_redirects=False)
    assert r.status_code == 403
    r = centre.client.post("/console/publish", data={"submission": sub, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "published" in r.headers["location"]


def test_requeue_makes_a_new_attempt_and_enqueues_it(centre, acme):
    sub = centre.upload(acme).json()["id"]
    centre.finish(sub, "broken")
    csrf = centre.sign_in("eng@lab.example", "battery staple")
    with Session(centre.engine) as s:
        cell = s.scalars(select(Cell).where(Cell.submission_id == sub, Cell.target == "debian12-x86_64")).one()
    before = len(centre.queued)
    r = centre.client.post("/console/requeue", data={"cell": str(cell.id), "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert centre.queued[before:] == [(cell.id, "debian12-x86_64")]
    cells = centre.client.get(f"/api/v1/submissions/{sub}", headers=bearer(centre.acme)).json()["cells"]
    assert cells[0] == {"target": "debian12-x86_64", "state": "queued", "verdict": None, "reason": "", "attempts": 2}


MARKUP = "<script>alert(1)</script>"


def test_vendor_markup_is_escaped_on_every_page(centre, tmp_path):
    folder = folder_like_acme(tmp_path, "markup-probe", vendor=f"Evil {MARKUP} Ltd", version=f"1.0{MARKUP}",
                              summary=f"sum {MARKUP}")
    sub = centre.upload(tar_gz(folder)).json()["id"]
    centre.finish(sub)
    assert centre.client.post(f"/api/v1/submissions/{sub}/publish", headers=bearer(centre.engineer)).status_code == 200
    pages = ["/", "/products/markup-probe.html"]
    centre.sign_in("vendor@acme.example", "correct horse")
    pages_in = ["/submissions", f"/submissions/{sub}"]
    for path in pages + pages_in:
        text = centre.client.get(path).text
        assert MARKUP not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
    centre.client.cookies.clear()
    centre.sign_in("eng@lab.example", "battery staple")
    for path in ["/console", "/submissions", f"/submissions/{sub}"]:
        assert MARKUP not in centre.client.get(path).text, path
