"""The centre's API for real (tests/integration/portal_service.py): a vendor's script uploads with
httpx, bad uploads are refused clearly and nothing is kept, a form post without its CSRF token is 403."""

from __future__ import annotations

import os
import tarfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lab.centre import auth
from tests.integration.portal_service import EXAMPLE, MAX_UPLOAD, sign_in, tar_gz, tar_members

pytestmark = pytest.mark.slow


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


def test_two_uploads_at_once_on_postgresql_cannot_both_take_the_last_place(engines, tmp_path, monkeypatch):
    """The per-organisation cap's recount under the organisation's row lock, on the real database
    (tests/test_centre_vendors.py: the same on SQLite)."""
    from tests.centre_app import Centre, race_for_the_last_place
    from tests.integration.portal_service import drop_database, new_database

    pg, _ = engines
    url = new_database(pg, "cap")
    centre = Centre(tmp_path, None, database_url=url)
    try:
        assert race_for_the_last_place(centre, tmp_path, monkeypatch) == [201, 429]
        assert centre.submissions() == 1
    finally:
        centre.engine.dispose()
        drop_database(pg, url)
