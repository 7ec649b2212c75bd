"""Which certifications ``lab recertify`` runs again, and why (pure logic; the real runs are in
tests/integration/test_lifecycle.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from lab.catalogue.renewal import Certified, LabNow, due

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
A, B, S1, S2 = "a" * 64, "b" * 64, "1" * 64, "2" * 64


def cert(target="debian12-x86_64", recipe=A, suites=S1, expires="2027-11-30T12:00:00+00:00", archive="x.tar.gz",
         run="r1"):
    return Certified(product="acme", version="1.0", vendor="ACME", target=target, run=run, archive=archive,
                     issued="2026-11-30T12:00:00+00:00", expires=expires, recipe_sha256=recipe, suites_version=suites)


def lab(recipes=None, suites=S1, within=0.0):
    return LabNow(recipes if recipes is not None else {"debian12-x86_64": A, "debian13-x86_64": A, "board": None},
                  suites, NOW, within)


def test_nothing_changed_nothing_due():
    assert due([cert(), cert(target="debian13-x86_64")], lab()) == []


def test_exactly_the_target_whose_recipe_changed_is_due_with_the_reason():
    found = due([cert(), cert(target="debian13-x86_64")], lab({"debian12-x86_64": A, "debian13-x86_64": B}))
    assert [d.cell.target for d in found] == ["debian13-x86_64"]
    assert found[0].reasons == [f"the image of debian13-x86_64 changed since: recipe {A[:12]} -> {B[:12]}"]
    assert found[0].blocked == ""


def test_changed_suites_make_every_certification_due():
    found = due([cert(), cert(target="debian13-x86_64")], lab(suites=S2))
    assert len(found) == 2 and all("the suites changed since" in d.reasons[0] for d in found)


def test_expiry_within_the_days_asked_or_already_expired():
    soon = cert(expires="2026-12-10T12:00:00+00:00")
    assert due([soon], lab()) == []
    assert due([soon], lab(within=30))[0].reasons == ["its certificate expires on 2026-12-10, within 30 days"]
    gone = cert(expires="2026-11-01T00:00:00+00:00")
    assert due([gone], lab())[0].reasons == ["its certificate expired on 2026-11-01"]


def test_unknown_recipes_are_not_a_reason_but_a_board_still_expires():
    assert due([cert(recipe=None), cert(target="board", recipe=None)], lab()) == []
    assert len(due([cert(target="board", recipe=None, expires="2026-01-01T00:00:00+00:00")], lab())) == 1


def test_a_due_certification_that_cannot_be_run_again_says_why():
    gone = due([cert(target="retired-target", suites=S2)], lab())
    assert gone[0].blocked == "target retired-target is no longer in the inventory"
    old = due([cert(archive=None, suites=S2)], lab())
    assert "archive was not kept" in old[0].blocked
