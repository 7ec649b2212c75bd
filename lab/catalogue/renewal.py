"""Which certifications are due again, and why (``lab recertify``).

A certification is the latest result of a product version on a target, when it has a
certificate. It is due when what it was issued on has changed: the target's image recipe (the
hash ``lab images build`` compares) differs from the one the certificate names, a board's OS
(what it says now, ``lab.provision.board_os``) differs from the one its certificate names, or the
suites' version differs; or when its certificate expires within the days asked (or has expired). Each
reason is said in words. One that is due but cannot be run again (its target is gone from the
inventory, or its submission's archive was not kept) is listed with what stops it.

``due`` is a pure function of what the catalogue recorded and what the lab is now, so it is
tested without a database; ``certified`` reads the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from lab.catalogue.lifecycle import latest
from lab.catalogue.models import ProductVersion, Result, Run
from lab.certs.certificate import OS_FACTS, when


@dataclass(frozen=True)
class Certified:
    """A latest certified (product version, target), as the catalogue recorded it."""

    product: str
    version: str
    vendor: str
    target: str
    run: str
    archive: str | None
    issued: str
    expires: str
    recipe_sha256: str | None
    suites_version: str | None
    board_os: dict[str, str] | None = None  # a board's certificate: the OS it was issued on


@dataclass(frozen=True)
class LabNow:
    """What the lab is today: each target's recipe hash (None: a board, or an image only pulled);
    each board's OS as it says now, or why that is not known (``lab.provision.board_os.boards_now``)."""

    recipes: dict[str, str | None]
    suites_version: str | None
    now: datetime
    within_days: float = 0.0
    boards: dict[str, dict[str, str] | str] = field(default_factory=dict)


@dataclass
class Due:
    cell: Certified
    reasons: list[str] = field(default_factory=list)
    blocked: str = ""  # why it cannot be run again (then it is listed, not run)


def _short(digest: str | None) -> str:
    return (digest or "none")[:12]


def reasons(c: Certified, lab: LabNow) -> list[str]:
    found = []
    if c.target in lab.recipes:
        now = lab.recipes[c.target]
        if c.recipe_sha256 and now and now != c.recipe_sha256:
            found.append(f"the image of {c.target} changed since: recipe {_short(c.recipe_sha256)} -> {_short(now)}")
    board_now = lab.boards.get(c.target)
    if c.board_os and isinstance(board_now, dict):
        changed = [f"{k} {c.board_os.get(k) or 'none'} -> {board_now.get(k) or 'none'}"
                   for k in OS_FACTS if k != "os_name" and c.board_os.get(k) != board_now.get(k)]
        if changed:
            found.append(f"the OS of board {c.target} changed since: {'; '.join(changed)}")
    if c.suites_version and lab.suites_version and c.suites_version != lab.suites_version:
        found.append(f"the suites changed since: version {_short(c.suites_version)} -> {_short(lab.suites_version)}")
    try:
        expires = when(c.expires)
    except ValueError:
        found.append(f"its expiry {c.expires!r} cannot be read")
    else:
        if expires <= lab.now:
            found.append(f"its certificate expired on {expires.date().isoformat()}")
        elif expires <= lab.now + timedelta(days=lab.within_days):
            found.append(f"its certificate expires on {expires.date().isoformat()}, within {lab.within_days:g} days")
    return found


def due(cells: list[Certified], lab: LabNow) -> list[Due]:
    """The certifications due again, each with its reasons (and what blocks a re-run, if anything)."""
    out = []
    for c in cells:
        why = reasons(c, lab)
        if not why:
            continue
        blocked = ""
        if c.target not in lab.recipes:
            blocked = f"target {c.target} is no longer in the inventory"
        elif not c.archive:
            blocked = "its submission's archive was not kept (recorded before the catalogue kept archives)"
        out.append(Due(c, why, blocked))
    return out


def certified(engine: Engine) -> list[Certified]:
    """Every latest certified (product version, target) in the catalogue."""
    found = []
    with Session(engine) as s:
        versions = s.scalars(select(ProductVersion).options(
            selectinload(ProductVersion.product),
            selectinload(ProductVersion.runs).selectinload(Run.results).selectinload(Result.certificate))).all()
        for v in sorted(versions, key=lambda v: (v.product.name, v.version)):
            for target, r in sorted(latest(x for run in v.runs for x in run.results).items()):
                cert = r.certificate
                if cert is None:
                    continue
                found.append(Certified(product=v.product.name, version=v.version, vendor=v.product.vendor,
                                       target=target, run=r.run.id, archive=r.run.archive, issued=cert.issued,
                                       expires=cert.expires, recipe_sha256=cert.recipe_sha256,
                                       suites_version=cert.suites_version, board_os=_board_os(cert.basis)))
    return found


def _board_os(basis: dict | None) -> dict[str, str] | None:
    """``issued_on.os`` of a board's certificate (``{"board", "os"}``), as text; None otherwise."""
    if not isinstance(basis, dict) or "board" not in basis or not isinstance(basis.get("os"), dict):
        return None
    return {str(k): str(v) for k, v in basis["os"].items()}


def lab_now(inv, within_days: float = 0.0, now: datetime | None = None,
            boards: dict[str, dict[str, str] | str] | None = None) -> LabNow:
    """The inventory's recipe hashes and the suites' version, now; ``boards``: what the boards
    that hold certificates say they run (the caller asks them: it takes a connection each)."""
    from lab.errors import InfrastructureError, InputError
    from lab.images.recipe import recipe_for
    from lab.suite.registry import suites_version

    recipes: dict[str, str | None] = {}
    for t in inv.model.targets:
        recipe = None
        if t.backend == "docker":
            try:
                r = recipe_for(inv, t)
                recipe = r.digest if r else None
            except (KeyError, OSError, InputError):  # a recipe not found here: nothing to compare
                recipe = None
        recipes[t.name] = recipe
    try:
        version = suites_version()
    except InfrastructureError:
        version = None
    return LabNow(recipes, version, now or datetime.now(UTC), within_days, boards or {})

