"""The worker-facing API in process (SQLite, no broker): claims and credentials over HTTP, and the
results upload checked like any input from outside: unsafe archives, verdicts that are not the
cell's, a superseded attempt's late upload, a repeated upload; a passed cell's certificate is the
service's own."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from lab.centre import ledger, worker_api
from lab.centre.ledger.queries import attempts_of
from lab.centre.models import Cell, Organisation, Submission
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts
from lab.settings import Settings
from tests.conftest import ROOT

T = "debian12-x86_64"
SHA = "a" * 64


@pytest.fixture
def settings(tmp_path):
    return Settings(database_url=f"sqlite:///{tmp_path / 'centre.db'}", storage=tmp_path / "storage",
                    inventory=ROOT / "targets.toml", heartbeat_s=1, lost_after_s=60, cell_attempts=2)


@pytest.fixture
def queued(settings):
    """What the intake would have left: a submission, its archive, a cell queued; and a record of
    what would have been enqueued."""
    app = worker_api.create_app()
    app.dependency_overrides[worker_api.get_settings] = lambda: settings
    app.dependency_overrides[worker_api.get_worker_token] = lambda: None
    sent: list[int] = []
    app.dependency_overrides[worker_api.get_enqueue] = lambda: lambda cell, s: sent.append(cell.id)
    engine = worker_api.engine_for(settings.database_url)
    sid = str(uuid.uuid4())
    folder = settings.storage / "submissions" / sid
    folder.mkdir(parents=True)
    (folder / "submission.tar.gz").write_bytes(b"\x1f\x8b not really")
    with Session(engine) as s:
        org = Organisation(name="acme", created=datetime.now(UTC))
        s.add(org)
        s.flush()
        sub = Submission(id=sid, org_id=org.id, product="acme-calc", version="0.9.0", vendor="ACME",
                         run_id="20261130-120000-acme-calc-0001", archive_sha256=SHA,
                         artifacts=[{"path": "acme-calc_0.9.0_all.deb", "sha256": SHA}], suites=["install"],
                         state="queued", published=False, created=datetime.now(UTC))
        s.add(sub)
        (cell,) = ledger.plan_cells(s, sub, [T])
        s.commit()
        cell_id = cell.id
    with TestClient(app) as client:
        yield client, sid, cell_id, sent
    engine.dispose()


def verdicts(targets=(T,), verdict="passed", checks=None, facts=None, **submission) -> str:
    ref = {"name": "acme-calc", "version": "0.9.0", "vendor": "ACME",
           "artifacts": [ArtifactRef(path="acme-calc_0.9.0_all.deb", sha256=SHA)], **submission}
    return Verdicts(run="worker-local-run.c1", harness="0", started="2026-11-30T12:00:00+00:00",
                    finished="2026-11-30T12:00:30+00:00", submission=SubmissionRef(**ref),
                    targets={t: TargetResult(verdict=verdict, reason="" if verdict == "passed" else "x.y: why",
                                             facts=facts or {},
                                             checks=checks or [Check(id="install.package", outcome=verdict)])
                             for t in targets}).dump()


# A lab host that forges: "passed" over failed checks, a failure made advisory, another target's facts
FORGED = [
    verdicts(checks=[Check(id="install.package", outcome="passed"),
                     Check(id="security.world_writable", outcome="failed", message="/opt/x mode 0777")]),
    verdicts(checks=[Check(id="install.package", outcome="passed"),
                     Check(id="security.world_writable", outcome="failed", required=False)]),
    verdicts(facts={"arch": "aarch64", "os_id": "debian", "os_version": "12"}),
]


def tar_of(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, to in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = to
            tar.addfile(info)
    return buf.getvalue()


def claim(client, cell_id, worker="w1"):
    assert client.post("/api/v1/worker/hello", json={"name": worker, "targets": [T], "slots": 1}).status_code == 200
    r = client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": worker})
    assert r.status_code == 200, r.text
    return r.json()


def upload(client, cell_id, credential, body: bytes):
    return client.post(f"/api/v1/worker/cells/{cell_id}/results", content=body,
                       headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/gzip"})


def test_claim_download_upload_and_the_service_signs(queued, settings):
    client, sid, cell_id, _ = queued
    got = claim(client, cell_id)
    assert got["target"] == T and got["attempt"] == 1 and got["suites"] == ["install"]
    assert got["submission"]["archive_name"] == "submission.tar.gz"
    client.post("/api/v1/worker/hello", json={"name": "w2", "targets": [T], "slots": 1})
    again = client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "w2"})
    assert again.status_code == 409 and again.json()["state"] == "busy" and "Retry-After" in again.headers
    auth = {"Authorization": f"Bearer {got['credential']}"}
    assert client.get(got["download"], headers=auth).content == b"\x1f\x8b not really"
    assert client.get(got["download"]).status_code == 401
    assert client.get(got["download"], headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post(f"/api/v1/worker/cells/{cell_id}/heartbeat", headers=auth).status_code == 200
    forged = {"certificates/debian12-x86_64.json": b'{"forged": true}'}
    r = upload(client, cell_id, got["credential"],
               tar_of({"verdicts.json": verdicts().encode(), "logs/x/pytest.log": b"ok\n", **forged}))
    assert r.status_code == 200, r.text
    assert r.json() == {"cell": cell_id, "target": T, "verdict": "passed", "certificate": True}
    folder = settings.storage / "submissions" / sid / "cells" / T
    stored = json.loads((folder / "verdicts.json").read_text())
    assert stored["run"] == "20261130-120000-acme-calc-0001"  # the submission's run id, not the worker's
    cert = json.loads((folder / "certificates" / f"{T}.json").read_text())
    assert cert["certificate"]["id"] == f"20261130-120000-acme-calc-0001/{T}" and "signature" in cert
    assert (folder / "logs/x/pytest.log").read_text() == "ok\n"
    # the same upload again (its answer was lost): the same answer, nothing changes
    r2 = upload(client, cell_id, got["credential"], tar_of({"verdicts.json": verdicts(verdict="failed").encode()}))
    assert r2.status_code == 200 and r2.json()["already"] is True and r2.json()["verdict"] == "passed"
    assert client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "w2"}).json()["state"] == "done"
    with Session(worker_api.engine_for(settings.database_url)) as s:
        assert ledger.cell_views(s, sid) == [{"target": T, "state": "done", "verdict": "passed", "reason": "",
                                              "attempts": 1}]
        assert s.get(Submission, sid).state == "finished"


@pytest.mark.parametrize(("body", "field"), [
    (lambda: tar_of({"verdicts.json": verdicts(targets=(T, "debian13-x86_64")).encode()}), "targets"),
    (lambda: tar_of({"verdicts.json": verdicts(targets=("debian13-x86_64",)).encode()}), "targets"),
    (lambda: tar_of({"verdicts.json": verdicts(vendor="Someone Else").encode()}), "submission.vendor"),
    (lambda: tar_of({"verdicts.json": verdicts(name="other").encode()}), "submission.name"),
    (lambda: tar_of({"verdicts.json": b'{"run": 1}'}), "submission"),
    (lambda: tar_of({"logs/a.txt": b"no verdicts"}), ""),
    (lambda: tar_of({"verdicts.json": verdicts().encode()}, links={"logs/out": "/etc/passwd"}), ""),
    (lambda: tar_of({"verdicts.json": verdicts().encode(), "../escape.txt": b"x"}), ""),
    (lambda: b"this is not an archive at all", ""),
    (lambda: tar_of({"verdicts.json": FORGED[0].encode()}), f"targets.{T}.verdict"),
    (lambda: tar_of({"verdicts.json": FORGED[1].encode()}), f"targets.{T}.checks"),
    (lambda: tar_of({"verdicts.json": FORGED[2].encode()}), f"targets.{T}.facts"),
])
def test_bad_results_are_refused_and_nothing_is_stored(queued, settings, body, field):
    client, sid, cell_id, _ = queued
    got = claim(client, cell_id)
    r = upload(client, cell_id, got["credential"], body())
    assert r.status_code == 422, r.text
    assert any(p["field"].startswith(field) for p in r.json()["problems"]), r.json()
    cells = settings.storage / "submissions" / sid / "cells"
    assert not cells.exists() or list(cells.iterdir()) == []
    assert not (settings.storage.parent / "escape.txt").exists()
    with Session(worker_api.engine_for(settings.database_url)) as s:
        assert ledger.current(s, cell_id).state == "running"


def test_only_the_current_attempt_uploads(queued, settings):
    client, sid, cell_id, sent = queued
    first = claim(client, cell_id)
    with Session(worker_api.engine_for(settings.database_url)) as s:  # w1 goes quiet for long
        c = s.get(Cell, cell_id)
        c.heartbeat = c.started_at = datetime(2026, 1, 1, tzinfo=UTC)
        s.commit()
    hello = client.post("/api/v1/worker/hello", json={"name": "w2", "targets": [T], "slots": 1})
    assert hello.status_code == 200 and hello.json()["swept"] == 1 and sent == [cell_id]  # queued again
    second = claim(client, cell_id, "w2")
    assert second["attempt"] == 2
    good = tar_of({"verdicts.json": verdicts().encode()})
    late = upload(client, cell_id, first["credential"], good)
    assert late.status_code == 409 and late.json()["state"] == "superseded"
    beat = client.post(f"/api/v1/worker/cells/{cell_id}/heartbeat",
                       headers={"Authorization": f"Bearer {first['credential']}"})
    assert beat.status_code == 409
    assert upload(client, cell_id, "x" * 43, good).status_code == 403
    assert upload(client, cell_id, second["credential"], good).status_code == 200
    with Session(worker_api.engine_for(settings.database_url)) as s:
        rows = [(c.attempt, c.state, c.reason) for c in attempts_of(s, sid, T)]
    assert rows == [(1, "broken", "worker w1 lost"), (2, "passed", "")]


def test_a_stopped_worker_gives_its_attempt_back(queued, settings):
    client, _, cell_id, sent = queued
    got = claim(client, cell_id)
    r = client.post(f"/api/v1/worker/cells/{cell_id}/release", json={"reason": "SIGTERM"},
                    headers={"Authorization": f"Bearer {got['credential']}"})
    assert r.status_code == 200 and r.json()["next_attempt"] == 2 and sent == [cell_id]
    assert claim(client, cell_id, "w2")["attempt"] == 2


def test_a_cell_is_claimed_only_by_a_worker_that_said_it_serves_its_target(queued):
    """A hostile review held the workers' secret and claimed a cell by its number for a target its
    worker had never declared (then uploaded a forged result)."""
    client, _, cell_id, _ = queued
    r = client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "stranger"})
    assert r.status_code == 403 and "does not serve" in r.json()["detail"]
    client.post("/api/v1/worker/hello", json={"name": "other", "targets": ["debian13-x86_64"], "slots": 1})
    assert client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "other"}).status_code == 403
    assert claim(client, cell_id, "mine")["target"] == T


def test_unknown_cells_and_bad_names(queued):
    client, _, cell_id, _ = queued
    assert client.post("/api/v1/worker/cells/424242/claim", json={"worker": "w1"}).status_code == 404
    assert client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "<script>"}).status_code == 422
    assert client.post("/api/v1/worker/hello", json={"name": "w 1", "targets": []}).status_code == 422


def test_with_a_worker_token_only_workers_say_hello_and_claim(queued):
    client, _, cell_id, _ = queued
    client.app.dependency_overrides[worker_api.get_worker_token] = lambda: "s3cret-of-the-workers"
    body = {"name": "w1", "targets": [T], "slots": 1}
    assert client.post("/api/v1/worker/hello", json=body).status_code == 401
    assert client.post("/api/v1/worker/hello", json=body, headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "w1"}).status_code == 401
    worker = {"Authorization": "Bearer s3cret-of-the-workers"}
    assert client.post("/api/v1/worker/hello", json=body, headers=worker).status_code == 200
    r = client.post(f"/api/v1/worker/cells/{cell_id}/claim", json={"worker": "w1"}, headers=worker)
    assert r.status_code == 200 and r.json()["credential"] != "s3cret-of-the-workers"


def _hello_with_queue(client, ready: dict[str, int]):
    client.app.dependency_overrides[worker_api.get_ready] = lambda: lambda targets, s: {t: ready.get(t, 0)
                                                                                     for t in targets}
    return client.post("/api/v1/worker/hello", json={"name": "w1", "targets": [T], "slots": 1})


def test_a_queued_cell_whose_message_was_lost_is_published_again_once_per_interval(queued, settings):
    client, _, cell_id, sent = queued
    client.app.dependency_overrides[worker_api.get_settings] = lambda: settings.model_copy(
        update={"republish_after_s": 0.5})
    assert _hello_with_queue(client, {T: 1}).json()["swept"] == 0 and sent == []  # still young: nothing asked
    time.sleep(0.6)
    assert _hello_with_queue(client, {T: 1}).json()["swept"] == 0 and sent == []  # its message waits: fine
    assert _hello_with_queue(client, {T: 0}).json()["swept"] == 1 and sent == [cell_id]  # lost: again
    assert _hello_with_queue(client, {T: 0}).json()["swept"] == 0 and sent == [cell_id]  # not before the interval
    assert claim(client, cell_id)["attempt"] == 1  # the same attempt: a copy, not a new run


def test_a_broker_that_cannot_be_asked_republishes_nothing(queued, settings):
    client, _, _, sent = queued
    client.app.dependency_overrides[worker_api.get_settings] = lambda: settings.model_copy(
        update={"republish_after_s": 0.01})

    def down(targets, s):
        from lab.errors import InfrastructureError

        raise InfrastructureError("connection refused")

    client.app.dependency_overrides[worker_api.get_ready] = lambda: down
    time.sleep(0.05)
    r = client.post("/api/v1/worker/hello", json={"name": "w1", "targets": [T], "slots": 1})
    assert r.status_code == 200 and r.json()["swept"] == 0 and sent == []


def test_the_service_matches_an_uploaded_sbom_against_its_own_vulnerability_feed(queued, settings, tmp_path):
    """A worker has no feed (its check is skipped); the service's feed fails the cell at upload."""
    from lab.supply import osv
    from lab.supply.sbom import Component, Product, build

    rec = {"id": "OSV-TEST-CENTRE-1", "modified": "2026-11-01T00:00:00Z", "summary": "s",
           "database_specific": {"severity": "HIGH"},
           "affected": [{"package": {"ecosystem": "Debian:12", "name": "bc"},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.07.1-4"}]}]}]}
    (tmp_path / "osv.json").write_text(json.dumps(rec))
    osv.import_records(worker_api.engine_for(settings.database_url), osv.read_paths([tmp_path / "osv.json"]))
    sbom = build(Product("acme-calc", "0.9.0", "ACME"), T,
                 [Component("dependency", "bc", "1.07.1-3+b1", ecosystem="Debian:12", match_name="bc",
                            match_version="1.07.1-3")], {}, [])
    skipped = json.loads(verdicts())
    skipped["targets"][T]["checks"].append({"id": "supply.vulnerabilities", "outcome": "skipped",
                                            "message": "the lab has imported no vulnerability records"})
    client, sid, cell_id, _ = queued
    got = claim(client, cell_id)
    r = upload(client, cell_id, got["credential"], tar_of({"verdicts.json": json.dumps(skipped).encode(),
                                                           f"sbom/{T}.cdx.json": sbom.encode()}))
    assert r.status_code == 200 and r.json()["verdict"] == "failed", r.text
    stored = json.loads((settings.storage / "submissions" / sid / "cells" / T / "verdicts.json").read_text())
    check = next(c for c in stored["targets"][T]["checks"] if c["id"] == "supply.vulnerabilities")
    assert check["outcome"] == "failed" and "OSV-TEST-CENTRE-1 (high)" in check["message"]
    assert "matched by the service" in check["message"]
    assert "fixed in 1.07.1-4" in check["message"] and stored["targets"][T]["reason"].startswith("supply.vulnerab")


def test_a_stranger_cannot_tell_a_cell_that_exists_from_one_that_does_not(queued):
    client, _, cell_id, _ = queued
    junk = {"Authorization": "Bearer junk"}
    there = client.post(f"/api/v1/worker/cells/{cell_id}/heartbeat", headers=junk)
    absent = client.post("/api/v1/worker/cells/424242/heartbeat", headers=junk)
    assert there.status_code == absent.status_code == 403
    assert absent.json() == {"detail": "not a credential of cell 424242"}
