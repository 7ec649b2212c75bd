"""A rerun of a run's broken targets is recorded as the same run again: the targets it did not run
again keep their results and their time, so a renewal recorded in between stays the newest."""

from __future__ import annotations

import shutil

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lab.catalogue.db import open_catalogue
from lab.catalogue.lifecycle import cell_life, latest
from lab.catalogue.models import ProductVersion, Result, Run
from lab.catalogue.record import record_run
from lab.catalogue.renewal import certified
from lab.certs.keys import load_or_create
from tests.test_catalogue import write_run


def _cells(engine) -> dict[str, tuple[str, str]]:
    with Session(engine) as s:
        version = s.scalars(select(ProductVersion).options(
            selectinload(ProductVersion.runs).selectinload(Run.results))).one()
        return {t: (r.run.id, r.verdict) for t, r in latest(x for run in version.runs for x in run.results).items()}


def test_a_rerun_of_the_broken_targets_does_not_bring_back_a_renewed_result(tmp_path):
    engine = open_catalogue(None, tmp_path / "catalogue.db")
    key = load_or_create(tmp_path / "key.pem")
    first = write_run(tmp_path / "first", "run-a", {"t1": "passed", "t2": "broken"}, finished="2026-12-01T08:00:00",
                      certify_with=key)
    record_run(engine, first)
    renewal = write_run(tmp_path / "renewal", "run-b", {"t1": "passed"}, finished="2026-12-01T09:00:00",
                        certify_with=key)
    record_run(engine, renewal, recertifies="run-a", recertify_reason="due")
    # lab run --rerun-broken: t2 runs again and passes (a certificate of its own); t1's result and
    # certificate are carried over as they were; the run ends later than the renewal
    rerun = write_run(tmp_path / "rerun", "run-a", {"t1": "passed", "t2": "passed"}, finished="2026-12-01T10:00:00",
                      certify_with=key)
    shutil.copy(first / "certificates" / "t1.json", rerun / "certificates" / "t1.json")
    record_run(engine, rerun)

    assert _cells(engine) == {"t1": ("run-b", "passed"), "t2": ("run-a", "passed")}
    assert {(c.target, c.run) for c in certified(engine)} == {("t1", "run-b"), ("t2", "run-a")}
    with Session(engine) as s:
        results = {(r.run.id, r.target): r for r in s.scalars(select(Result)).all()}
        assert results["run-a", "t1"].finished == "2026-12-01T08:00:00"  # kept, not made again
        assert results["run-a", "t2"].finished == "2026-12-01T10:00:00"
        life = cell_life(results["run-b", "t1"])
        assert life["change"] == "renewed" and [h["run"] for h in life["history"]] == ["run-a"]
        assert cell_life(results["run-a", "t1"])["history"] == []


def test_a_target_run_again_in_a_rerun_takes_the_reruns_time(tmp_path):
    """The same run recorded again with a target whose result changed: that one is new."""
    engine = open_catalogue(None, tmp_path / "catalogue.db")
    record_run(engine, write_run(tmp_path / "a", "run-a", {"t1": "broken"}, finished="2026-12-01T08:00:00"))
    record_run(engine, write_run(tmp_path / "b", "run-b", {"t1": "failed"}, finished="2026-12-01T09:00:00"))
    record_run(engine, write_run(tmp_path / "c", "run-a", {"t1": "passed"}, finished="2026-12-01T10:00:00"))
    assert _cells(engine) == {"t1": ("run-a", "passed")}
