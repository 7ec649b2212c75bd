"""The catalogue: migrations, recording (idempotent), and the published site with escaping."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from lab.catalogue.db import alembic_config, open_catalogue
from lab.catalogue.models import Result, Run
from lab.catalogue.publish import publish
from lab.catalogue.record import record_run
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts

EVIL = "<script>alert('x')</script>"


def write_run(folder, run_id, verdict_by_target, vendor="ACME", version="1.0", finished="2026-11-29T12:00:00"):
    targets = {t: TargetResult(verdict=v, reason="" if v == "passed" else f"install.package: {EVIL}",
                               checks=[Check(id="install.package", outcome=v, message=EVIL)])
               for t, v in verdict_by_target.items()}
    v = Verdicts(run=run_id, started=finished, finished=finished, submission=SubmissionRef(
        name="acme", version=version, vendor=vendor, artifacts=[ArtifactRef(path="a.deb", sha256="0" * 64)]),
        targets=targets)
    (folder / run_id).mkdir(parents=True)
    (folder / run_id / "verdicts.json").write_text(v.dump())
    return folder / run_id


@pytest.fixture
def engine(tmp_path):
    return open_catalogue(None, tmp_path / "catalogue.db")


def test_migrations_reach_head_and_create_every_table(engine, tmp_path):
    names = set(inspect(engine).get_table_names())
    assert {"products", "product_versions", "runs", "artifacts", "results", "checks", "certificates"} <= names
    cfg = alembic_config(str(engine.url))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar() == head
    command.upgrade(cfg, "head")  # idempotent


def test_recording_twice_keeps_one_run(engine, tmp_path):
    run = write_run(tmp_path, "r1", {"debian12-x86_64": "passed"})
    record_run(engine, run)
    record_run(engine, run)
    with Session(engine) as s:
        assert len(s.scalars(select(Run)).all()) == 1
        assert [r.verdict for r in s.scalars(select(Result)).all()] == ["passed"]


def test_the_site_shows_the_latest_verdict_and_escapes_vendor_strings(engine, tmp_path):
    record_run(engine, write_run(tmp_path, "r1", {"t1": "failed", "t2": "passed"}, vendor=EVIL, version=EVIL,
                                 finished="2026-11-29T10:00:00"))
    record_run(engine, write_run(tmp_path, "r2", {"t1": "passed"}, vendor=EVIL, version=EVIL,
                                 finished="2026-11-29T11:00:00"))
    site = tmp_path / "site"
    index = publish(engine, site, "Lab <b>", tmp_path / "key.pem").read_text()
    assert "<script>alert" not in index and "&lt;script&gt;alert" in index
    assert "Lab &lt;b&gt;" in index
    product = (site / "products/acme.html").read_text()
    assert "<script>alert" not in product
    matrix = json.loads((site / "matrix.json").read_text())
    results = matrix["products"][0]["results"]
    assert results["t1"]["verdict"] == "passed" and results["t1"]["run"] == "r2"  # the latest run wins
    assert results["t2"]["verdict"] == "passed" and results["t2"]["run"] == "r1"
    assert matrix["targets"] == ["t1", "t2"]
    assert (site / "keys/lab-signing-key.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
