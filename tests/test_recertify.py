"""Which certifications ``lab recertify`` runs again, and why (pure logic; the real runs are in
tests/integration/test_lifecycle.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from lab.catalogue.renewal import Certified, LabNow, _board_os, due

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
A, B, S1, S2 = "a" * 64, "b" * 64, "1" * 64, "2" * 64


def cert(target="debian12-x86_64", recipe=A, suites=S1, expires="2027-11-30T12:00:00+00:00", archive="x.tar.gz",
         run="r1", board_os=None):
    return Certified(product="acme", version="1.0", vendor="ACME", target=target, run=run, archive=archive,
                     issued="2026-11-30T12:00:00+00:00", expires=expires, recipe_sha256=recipe, suites_version=suites,
                     board_os=board_os)


def lab(recipes=None, suites=S1, within=0.0, boards=None):
    return LabNow(recipes if recipes is not None else {"debian12-x86_64": A, "debian13-x86_64": A, "board": None},
                  suites, NOW, within, boards or {})


OS = {"os_id": "openEuler", "os_version": "22.03", "os_name": "openEuler 22.03 (LTS-SP1)", "arch": "aarch64",
      "kernel": "5.10.0-136.12.0.86.oe2203sp1.aarch64", "glibc": "2.34", "package_manager": "dnf"}


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


def test_a_board_whose_os_is_as_it_was_is_not_due():
    assert due([cert(target="board", recipe=None, board_os=OS)], lab(boards={"board": dict(OS)})) == []


def test_a_board_upgraded_since_is_due_with_what_changed():
    upgraded = OS | {"os_version": "22.03.3", "os_name": "openEuler 22.03 (LTS-SP3)",
                     "kernel": "5.10.0-182.0.0.95.oe2203sp3.aarch64"}
    found = due([cert(target="board", recipe=None, board_os=OS)], lab(boards={"board": upgraded}))
    assert [d.reasons for d in found] == [[
        "the OS of board board changed since: os_version 22.03 -> 22.03.3; "
        "kernel 5.10.0-136.12.0.86.oe2203sp1.aarch64 -> 5.10.0-182.0.0.95.oe2203sp3.aarch64"]]
    assert found[0].blocked == ""
    # a fact the board no longer reports (or newly reports) counts as a change too
    without_glibc = {k: v for k, v in OS.items() if k != "glibc"}
    found = due([cert(target="board", recipe=None, board_os=OS)], lab(boards={"board": without_glibc}))
    assert "glibc 2.34 -> none" in found[0].reasons[0]


def test_a_board_that_cannot_say_is_no_reason_and_a_container_is_never_compared():
    unreachable = lab(boards={"board": "board could not be reached: connection refused"})
    assert due([cert(target="board", recipe=None, board_os=OS)], unreachable) == []
    # a container's certificate names an image, not an OS: a board's facts under its name change nothing
    assert due([cert(board_os=None)], lab(boards={"debian12-x86_64": OS})) == []


def test_the_os_a_certificate_names_is_read_only_from_a_boards_basis():
    assert _board_os({"board": "b", "os": {"os_id": "debian", "os_version": 12}}) == {"os_id": "debian",
                                                                                     "os_version": "12"}
    assert _board_os({"image": "lab/debian12-x86_64", "recipe_sha256": A}) is None
    assert _board_os({"board": "b", "os": "debian"}) is None and _board_os(None) is None
