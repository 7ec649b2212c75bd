"""The lab's vulnerability feed as a target's worker reads it: the catalogue's database, opened
read-only (never migrated from a worker: several run at once, and ``lab vulns import`` or the
controller has migrated it already), matched against one install's components."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from lab.catalogue.models import Vulnerability
from lab.errors import InfrastructureError
from lab.supply import osv
from lab.supply.feed_probe import feed_url
from lab.supply.sbom import Component


def open_feed(inv) -> Engine | None:
    url = feed_url(inv)
    try:
        return create_engine(url) if url else None
    except (SQLAlchemyError, ValueError) as exc:  # an URL SQLAlchemy cannot read, a driver not installed
        raise InfrastructureError(f"the lab's vulnerability feed cannot be opened ({url}): {exc}") from None


def records(engine: Engine | None) -> int:
    """How many records the feed holds (0 when no catalogue or no import yet).

    Only a catalogue without the feed's table (migration 0005 never ran there: nothing was
    imported) counts as empty. A catalogue that cannot be read at all (a corrupt file, a server
    that refuses) is the lab's fault, *broken*: read as "no records" it would skip the check and
    let a certificate through unchecked."""
    if engine is None:
        return 0
    try:
        if not inspect(engine).has_table(Vulnerability.__tablename__):
            return 0
        return osv.count(engine)
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the lab's vulnerability feed cannot be read: {exc}") from None


def subjects(components: list[Component]) -> list[osv.Subject]:
    return [osv.Subject(c.ecosystem, c.match_name or c.name, c.match_version or c.version, c.who)
            for c in components if c.ecosystem and (c.match_version or c.version)]


def judge(found: list[osv.Finding], threshold: str, records: int, matched: int) -> tuple[bool, str]:
    """The check's outcome and message: passed (with an advisory of what is below the threshold) or
    failed naming every finding at or above it. The suite and the centre (which matches the SBOM a
    worker uploaded against its own feed) say it in the same words."""
    from lab.observe import findings as listing

    failing = [f.line() for f in found if osv.at_or_above(f.severity, threshold)]
    below = [f.line() for f in found if not osv.at_or_above(f.severity, threshold)]
    if failing:
        shown = f"\nbelow {threshold} (advisory):\n{listing.listing(below)}" if below else ""
        return False, (f"{len(failing)} known vulnerabilit{'y' if len(failing) == 1 else 'ies'} at or above "
                       f"{threshold}: {listing.head(failing)}\n{listing.listing(failing)}{shown}")
    return True, ((f"advisory: {len(below)} below {threshold}: {listing.head(below)}" if below else
                   "no known vulnerability") + f" ({records} record(s) in the lab's feed, "
                  f"{matched} component(s) matched)")


def findings(engine: Engine, components: list[Component]) -> list[osv.Finding]:
    try:
        return osv.match(engine, subjects(components))
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the lab's vulnerability feed cannot be read: {exc}") from None
