"""What a buyer's page says of a cell's life: the waivers it passed with, whether its certificate
has expired, and its history (renewed, or now failing, with the date).

Kept apart from ``publish`` (which lays the site out) so the rules are in one place: a
certificate whose expiry has passed is *expired* at the moment the page is rendered, whatever
the verdict it was issued for; a cell is its latest judged result (``latest``); it is *renewed*
when its latest result passed after an earlier certified one, *now failing* when it failed after one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lab.catalogue.models import Result
from lab.certs.certificate import when


def latest(results, known: set[str] | None = None) -> dict[str, Result]:
    """Each target's latest verdict, a *broken* one only where nothing was judged there yet: a run
    the lab could not judge says nothing of the product, so it takes no certificate off the matrix
    and out of renewal (a review's interrupted run and a missing image had replaced a passed cell).
    ``known``: only these targets."""
    cells: dict[str, Result] = {}
    for result in sorted(results, key=lambda x: x.made):
        if known is not None and result.target not in known:
            continue
        held = cells.get(result.target)
        if result.verdict != "broken" or held is None or held.verdict == "broken":
            cells[result.target] = result
    return cells


def expired(result: Result, now: datetime | None = None) -> bool:
    cert = result.certificate
    if cert is None:
        return False
    try:
        return when(cert.expires) < (now or datetime.now(UTC))
    except ValueError:
        return True  # an expiry that cannot be read is never shown as valid


def _earlier(result: Result) -> list[Result]:
    """The earlier results of the same product version on the same target, newest first."""
    found = [x for r in result.run.version.runs for x in r.results
             if x.target == result.target and x.made < result.made]
    return sorted(found, key=lambda x: x.made, reverse=True)


def change(result: Result, earlier: list[Result]) -> str:
    """``renewed``, ``now failing``, or nothing: against the last earlier result that had a certificate."""
    certified = next((x for x in earlier if x.certificate is not None), None)
    if certified is None:
        return ""
    if result.verdict == "passed":
        return "renewed"
    if result.verdict == "failed":
        return "now failing"
    return ""


def cell_life(result: Result, now: datetime | None = None) -> dict:
    earlier = _earlier(result)
    cert = result.certificate
    return {
        "waived": [{"check": c.check_id, **(c.waiver or {})} for c in result.checks if c.outcome == "waived"],
        "certificate_expires": cert.expires if cert is not None else "",
        "certificate_expired": expired(result, now),
        "change": change(result, earlier),
        "date": result.made[0][:10],
        "recertified": bool(result.run.recertifies),
        "history": [{"run": x.run.id, "date": x.made[0][:10], "verdict": x.verdict,
                     "certificate": x.certificate is not None, "certificate_expired": expired(x, now)}
                    for x in earlier],
    }
