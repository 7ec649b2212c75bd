"""The centre's API in process (FastAPI's TestClient, SQLite, no broker): an upload stored, planned
and queued, the caller's list, a disabled target, a broker that refuses; an engineer reading and
publishing, the buyers' matrix, the OpenAPI document and health. Who may see what is in
tests/test_centre_auth.py, refused uploads in tests/test_centre_upload_checks.py, the portal's pages in
tests/test_centre_pages.py; the real engines are in tests/integration/test_centre_portal.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from lab.centre.models import Submission
from tests.centre_app import Centre, bearer, folder_like_acme, tar_gz

pytestmark = pytest.mark.usefixtures("quick_hashes")  # argon2 at its lowest cost

CONTRACT_PATHS = {"/api/v1/submissions", "/api/v1/submissions/{submission_id}",
                  "/api/v1/submissions/{submission_id}/verdicts", "/api/v1/submissions/{submission_id}/report",
                  "/api/v1/submissions/{submission_id}/certificates/{target}",
                  "/api/v1/submissions/{submission_id}/publish", "/api/v1/catalogue/matrix.json", "/api/v1/health"}


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
    theirs = tar_gz(folder_like_acme(tmp_path, "other-calc", vendor="Other Vendor"))
    other = centre.upload(theirs, centre.other).json()["id"]
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


def test_a_broker_that_refuses_leaves_nothing(tmp_path, template, acme):
    centre = Centre(tmp_path, template, fail_enqueue=True)
    r = centre.upload(acme)
    assert r.status_code == 503 and "cells cannot be queued" in r.json()["detail"]
    assert centre.submissions() == 0 and centre.stored() == []


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
