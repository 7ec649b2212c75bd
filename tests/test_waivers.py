"""Waivers (pure logic): the strict model of waivers.toml, which failure a waiver matches, expiry,
the verdict after it, and what a certificate says of it. The real thing: tests/integration/test_lifecycle.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lab.certs.certificate import expiry, issue
from lab.errors import InputError
from lab.inventory import load_inventory
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts
from lab.waivers import apply_waivers, load_waivers
from tests import test_centre_worker_api as worker_api_tests
from tests.conftest import ROOT

queued = worker_api_tests.queued  # the worker API's fixture, over the ``settings`` fixture below

TODAY = date(2026, 11, 30)
GOOD = """
[[waivers]]
check = "security.world_writable"
product = "acme-hello"
versions = ["1.2.0"]
targets = ["debian12-x86_64"]
reason = "the shared cache is meant for every user; fixed in 1.3"
reviewer = "Li Wei"
expires = 2027-06-30
"""


@pytest.fixture
def inv(tmp_path):
    """A copy of the lab's inventory, so waivers.toml lies beside it in tmp_path."""
    path = tmp_path / "targets.toml"
    path.write_text((ROOT / "targets.toml").read_text().replace('path = "images/', f'path = "{ROOT}/images/'))
    return load_inventory(path)


def write(inv, text: str):
    (inv.root / "waivers.toml").write_text(text)
    return load_waivers(inv, today=TODAY)


def verdicts(version="1.2.0", product="acme-hello", **targets: list[tuple[str, str]]) -> Verdicts:
    results = {}
    for name, checks in targets.items():
        cs = [Check(id=cid, outcome=o, message=f"{cid} went {o}") for cid, o in checks]
        from lab.results.model import reason_of, reduce

        verdict = reduce(cs)
        results[name.replace("_", "-", 1)] = TargetResult(verdict=verdict, reason=reason_of(cs, verdict), checks=cs)
    return Verdicts(run="20261130-120000-acme-hello", submission=SubmissionRef(
        name=product, version=version, vendor="ACME", artifacts=[ArtifactRef(path="a.deb", sha256="0" * 64)]),
        targets=results)


FAILING = [("install.package", "passed"), ("security.world_writable", "failed")]


def test_no_file_is_no_waivers(inv):
    loaded = load_waivers(inv, today=TODAY)
    assert loaded.entries == [] and loaded.path is None


def test_a_waiver_turns_exactly_the_named_failure_on_the_named_target_into_waived(inv):
    loaded = write(inv, GOOD)
    assert loaded.warnings == []
    v = verdicts(debian12_x86_64=[*FAILING, ("security.setuid", "failed")], debian13_x86_64=FAILING)
    applied = apply_waivers(v, loaded, today=TODAY)
    d12 = applied.verdicts.targets["debian12-x86_64"]
    ww = next(c for c in d12.checks if c.id == "security.world_writable")
    assert ww.outcome == "waived"
    assert ww.waiver.model_dump() == {"reason": "the shared cache is meant for every user; fixed in 1.3",
                                      "reviewer": "Li Wei", "expires": "2027-06-30"}
    assert next(c for c in d12.checks if c.id == "security.setuid").outcome == "failed"  # not named
    assert d12.verdict == "failed" and d12.reason.startswith("security.setuid:")
    d13 = applied.verdicts.targets["debian13-x86_64"]  # another target: untouched
    assert d13.verdict == "failed" and d13.checks[1].outcome == "failed"
    assert [(u.target, u.check) for u in applied.waived] == [("debian12-x86_64", "security.world_writable")]


def test_waived_counts_as_passed_for_the_verdict(inv):
    applied = apply_waivers(verdicts(debian12_x86_64=FAILING), write(inv, GOOD), today=TODAY)
    r = applied.verdicts.targets["debian12-x86_64"]
    assert r.verdict == "passed" and r.reason == ""


@pytest.mark.parametrize("v", [verdicts(version="1.3.0", debian12_x86_64=FAILING),
                               verdicts(product="acme-other", debian12_x86_64=FAILING)])
def test_another_version_or_product_is_not_waived(inv, v):
    applied = apply_waivers(v, write(inv, GOOD), today=TODAY)
    assert applied.waived == [] and applied.verdicts.targets["debian12-x86_64"].verdict == "failed"


def test_only_a_failure_is_waived_never_a_broken_or_passed_check(inv):
    text = GOOD.replace("security.world_writable", "install.package")
    for outcome in ("broken", "passed", "skipped"):
        v = verdicts(debian12_x86_64=[("install.package", outcome)])
        applied = apply_waivers(v, write(inv, text), today=TODAY)
        assert applied.verdicts.targets["debian12-x86_64"].checks[0].outcome == outcome


def test_an_expired_waiver_no_longer_applies_and_is_said(inv):
    loaded = write(inv, GOOD.replace("2027-06-30", "2026-11-29"))
    assert any("expired on 2026-11-29" in w for w in loaded.warnings)
    applied = apply_waivers(verdicts(debian12_x86_64=FAILING), loaded, today=TODAY)
    assert applied.verdicts.targets["debian12-x86_64"].verdict == "failed"
    assert [(u.target, u.check) for u in applied.expired] == [("debian12-x86_64", "security.world_writable")]
    # its last day still counts
    on_the_day = apply_waivers(verdicts(debian12_x86_64=FAILING), loaded, today=date(2026, 11, 29))
    assert on_the_day.verdicts.targets["debian12-x86_64"].verdict == "passed"


def test_applying_again_is_the_same_and_a_withdrawn_waiver_unwaives(inv):
    once = apply_waivers(verdicts(debian12_x86_64=FAILING), write(inv, GOOD), today=TODAY).verdicts
    assert apply_waivers(once, write(inv, GOOD), today=TODAY).verdicts == once
    again = apply_waivers(once, write(inv, ""), today=TODAY).verdicts  # e.g. results a worker sent
    r = again.targets["debian12-x86_64"]
    assert r.verdict == "failed" and r.checks[1].outcome == "failed" and r.checks[1].waiver is None


def test_omitted_versions_and_targets_mean_every_one(inv):
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith(("versions", "targets")))
    v = verdicts(version="9", debian12_x86_64=FAILING, debian13_x86_64=FAILING)
    applied = apply_waivers(v, write(inv, text), today=TODAY)
    assert {t: r.verdict for t, r in applied.verdicts.targets.items()} == {"debian12-x86_64": "passed",
                                                                          "debian13-x86_64": "passed"}


def test_a_waiver_that_matches_nothing_known_is_reported_not_refused(inv):
    loaded = write(inv, GOOD.replace("security.world_writable", "security.world_writeable")
                   .replace('"debian12-x86_64"', '"debian12-amd64"'))
    assert len(loaded.entries) == 1
    assert any("waivers[0].check" in w and "security.world_writeable" in w
               and "did you mean 'security.world_writable'" in w for w in loaded.warnings), loaded.warnings
    assert any("waivers[0].targets[0]" in w and "debian12-amd64" in w for w in loaded.warnings)


@pytest.mark.parametrize(("change", "field"), [
    (("2027-06-30", '"2027-06-30"'), "waivers[0].expires"),
    (("2027-06-30", "2027-06-30T10:00:00"), "waivers[0].expires"),
    (('reviewer = "Li Wei"', ""), "waivers[0].reviewer"),
    (('reviewer = "Li Wei"', 'reviewer = "Li Wei"\ntarget = "x"'), "waivers[0].target"),
    (('reason = "the', 'reason = "\\u001b[2J the'), "waivers[0].reason"),
    (('reason = "the', f'reason = "{"x" * 500}'), "waivers[0].reason"),
    (('check = "security.world_writable"', 'check = "not a check"'), "waivers[0].check"),
    (('targets = ["debian12-x86_64"]', "targets = []"), "waivers[0].targets"),
    (('targets = ["debian12-x86_64"]', 'targets = ["Bad Name"]'), "waivers[0].targets[0]"),
])
def test_a_malformed_waiver_is_refused_naming_the_file_entry_and_field(inv, change, field):
    text = GOOD + GOOD.replace(*change)  # the second entry is the bad one
    with pytest.raises(InputError) as exc:
        write(inv, text)
    assert exc.value.source.endswith("waivers.toml")
    want = field.replace("waivers[0]", "waivers[1]")
    assert any(p.startswith(want) for p in exc.value.problems), exc.value.problems


def test_not_toml_or_an_unknown_top_level_key_is_refused(inv):
    with pytest.raises(InputError, match="not valid TOML"):
        write(inv, "[[waivers]\n")
    with pytest.raises(InputError, match="waiver: unknown key"):
        write(inv, "[[waiver]]\ncheck = 'a.b'\n")


def test_a_certificate_lists_its_waivers_and_never_outlives_them(inv, tmp_path):
    from lab.certs.keys import load_or_create

    applied = apply_waivers(verdicts(debian12_x86_64=FAILING), write(inv, GOOD), today=TODAY)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    r = applied.verdicts.targets["debian12-x86_64"]
    cert = issue(applied.verdicts, "debian12-x86_64", r, load_or_create(tmp_path / "k.pem"), "lab", now, days=365)
    c = cert["certificate"]
    assert c["waived"] == [{"check": "security.world_writable", "reason": r.checks[1].waiver.reason,
                            "reviewer": "Li Wei", "expires": "2027-06-30"}]
    assert c["expires"] == "2027-07-01T00:00:00+00:00"  # the end of the waiver's last day, not a year
    assert "security.world_writable" not in c["checks"]
    assert expiry(now, 30, c["waived"]).isoformat() == "2026-12-30T12:00:00+00:00"


def test_the_allure_result_of_a_waived_check_is_marked_and_others_are_not(inv, tmp_path):
    import json

    from lab.waivers.report import mark_allure

    results = tmp_path / "allure-results"
    results.mkdir()

    def result(target, check, status):
        doc = {"name": f"{check} on {target}", "status": status, "statusDetails": {"message": "found x"},
               "labels": [{"name": "parentSuite", "value": target}, {"name": "subSuite", "value": check}]}
        path = results / f"{target}-{check}-result.json"
        path.write_text(json.dumps(doc))
        return path

    waived = result("debian12-x86_64", "security.world_writable", "failed")
    other_target = result("debian13-x86_64", "security.world_writable", "failed")
    applied = apply_waivers(verdicts(debian12_x86_64=FAILING, debian13_x86_64=FAILING), write(inv, GOOD), today=TODAY)
    assert mark_allure(results, applied) == 1
    doc = json.loads(waived.read_text())
    assert doc["name"].endswith("[waived]") and doc["statusDetails"]["muted"] is True
    assert doc["statusDetails"]["message"].startswith("WAIVED until 2027-06-30 by Li Wei: ")
    assert doc["statusDetails"]["message"].endswith("found x")
    assert {"name": "tag", "value": "waived"} in doc["labels"]
    assert "muted" not in json.loads(other_target.read_text())["statusDetails"]


# --- the service applies the same waivers when a worker uploads a cell's results --------------------

@pytest.fixture
def settings(inv, tmp_path):
    """The centre's settings with the inventory copy above (its waivers.toml beside it)."""
    from lab.settings import Settings

    return Settings(database_url=f"sqlite:///{tmp_path / 'centre.db'}", storage=tmp_path / "storage",
                    inventory=inv.path, heartbeat_s=1, lost_after_s=60, cell_attempts=2)


def _cell_results(outcomes: dict[str, str]) -> bytes:
    from tests.test_centre_worker_api import SHA, T, tar_of

    checks = [Check(id=cid, outcome=o, message=f"{cid}: /opt/x" if o != "passed" else "")
              for cid, o in outcomes.items()]
    from lab.results.model import reason_of, reduce

    verdict = reduce(checks)
    v = Verdicts(run="worker-local-run.c1", harness="0", started="2026-11-30T12:00:00+00:00",
                 finished="2026-11-30T12:00:30+00:00",
                 submission=SubmissionRef(name="acme-calc", version="0.9.0", vendor="ACME",
                                          artifacts=[ArtifactRef(path="acme-calc_0.9.0_all.deb", sha256=SHA)]),
                 targets={T: TargetResult(verdict=verdict, reason=reason_of(checks, verdict), checks=checks)})
    return tar_of({"verdicts.json": v.dump().encode()})


def test_the_service_waives_with_its_own_waivers_and_judges_a_workers_waived_again(inv, settings, queued):
    import json

    from tests.test_centre_worker_api import T, claim, upload

    client, sid, cell_id, _ = queued
    (inv.root / "waivers.toml").write_text(GOOD.replace("security.world_writable", "install.idempotent")
                                           .replace("acme-hello", "acme-calc").replace("1.2.0", "0.9.0")
                                           .replace("2027-06-30", "2099-12-31"))
    got = claim(client, cell_id)
    body = _cell_results({"install.package": "passed", "install.idempotent": "failed",
                          "install.leftovers": "waived"})  # a worker's own "waived": no waiver of the centre's
    r = upload(client, cell_id, got["credential"], body)
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "failed"  # install.leftovers is failed again
    stored = json.loads((settings.storage / "submissions" / sid / "cells" / T / "verdicts.json").read_text())
    outcomes = {c["id"]: (c["outcome"], (c.get("waiver") or {}).get("reviewer"))
                for c in stored["targets"][T]["checks"]}
    assert outcomes == {"install.package": ("passed", None), "install.idempotent": ("waived", "Li Wei"),
                        "install.leftovers": ("failed", None)}


def test_the_service_with_a_malformed_waivers_file_answers_503_and_the_worker_retries(inv, settings, queued):
    from tests.test_centre_worker_api import claim, upload

    client, _sid, cell_id, _ = queued
    (inv.root / "waivers.toml").write_text(GOOD.replace("2027-06-30", '"soon"'))
    got = claim(client, cell_id)
    r = upload(client, cell_id, got["credential"], _cell_results({"install.package": "failed"}))
    assert r.status_code == 503
    assert r.json()["problems"][0]["field"] == "waivers[0].expires"
    assert r.json()["problems"][0]["file"].endswith("waivers.toml")
    (inv.root / "waivers.toml").unlink()  # fixed: the worker's retry lands
    assert upload(client, cell_id, got["credential"], _cell_results({"install.package": "failed"})).status_code == 200
