"""Suite `supply`: what the product is made of, its licences, and the known vulnerabilities in it.

``supply.sbom`` writes ``DIR/sbom/<target>.cdx.json`` (CycloneDX) from what the target actually
resolved; ``supply.licences`` holds the licences of the product's own packages and of what it
bundles against the lab's ``[lab.policy] forbidden_licences`` (dependencies from the OS's own
repositories are listed, not held against it: the OS distributes them to the buyer under its own
terms); ``supply.vulnerabilities`` matches every component against the OSV records the lab has
imported (``lab vulns import``) and fails at or above ``[lab.policy] fail_on_severity``.
"""

from __future__ import annotations

import hashlib

import pytest

from lab.errors import InfrastructureError, NotApplicable, ProductFailure
from lab.observe import findings
from lab.results.write import write_atomic
from lab.supply.collect import Supply, collect
from lab.supply.licences import judge
from lab.supply.sbom import Product, build, validate


def gathered(lab, target, installed) -> Supply:
    """Collected once per target, by the first supply check that needs it."""
    if getattr(lab.state, "supply", None) is None:
        lab.state.supply = collect(lab, target, installed)
    return lab.state.supply


@pytest.mark.check("supply.sbom")
def test_sbom_of_what_the_install_brought(lab, target, installed):
    supply = gathered(lab, target, installed)
    p = lab.submission.model.product
    text = build(Product(p.name, p.version, p.vendor), target.target.name, supply.components, supply.files,
                 supply.notes)
    try:
        validate(text)
    except ValueError as exc:
        raise InfrastructureError(f"the lab wrote an invalid SBOM: {exc}") from None
    path = lab.opts.out / "sbom" / f"{target.target.name}.cdx.json"
    write_atomic(path, text)
    supply.sbom_path, supply.sbom_sha256 = str(path), hashlib.sha256(text.encode()).hexdigest()
    try:
        import allure

        allure.attach.file(str(path), f"SBOM ({path.name})", allure.attachment_type.JSON)
    except ImportError:
        pass
    t = supply.tampered  # the SBOM keeps what the lab installed; the database's word is refused
    assert not t, (f"{len(t)} package(s) in the package database contradict what the lab installed: "
                   f"{findings.head(t)}\n{findings.listing(t)}")
    roles = {r: sum(c.role == r for c in supply.components) for r in ("product", "dependency", "bundled")}
    lab.note(f"sbom/{path.name} (sha256 {supply.sbom_sha256[:16]}...): {roles['product']} of the product's own, "
             f"{roles['dependency']} from {target.target.name}'s repositories, {roles['bundled']} bundled "
             f"(best effort), {len(supply.files)} files" + (f"; {'; '.join(supply.notes[:3])}" if supply.notes else ""))


@pytest.mark.check("supply.licences")
def test_licences_against_the_policy(lab, target, installed):
    supply = gathered(lab, target, installed)
    forbidden = lab.inventory.model.lab.policy.forbidden_licences
    bad, os_info, unknown = judge(supply.components, forbidden)
    shown = f"\nfrom the OS's own repositories (listed, not held against it):\n{findings.listing(os_info)}" \
        if os_info else ""
    assert not bad, (f"{len(bad)} forbidden licence(s) ([lab.policy] forbidden_licences): {findings.head(bad)}\n"
                     f"{findings.listing(bad)}{shown}")
    unread = supply.unread_licences
    if unread and forbidden:
        raise ProductFailure(f"{len(unread)} licence file(s) the lab could not read whole, so it cannot say they are "
                             f"free of a forbidden licence ([lab.policy] forbidden_licences): {'; '.join(unread[:5])}"
                             + (f"; and {len(unread) - 5} more" if len(unread) > 5 else ""))
    notes = []
    if os_info:
        notes.append(f"forbidden licences only in OS packages: {findings.head(os_info)}")
    if unread:
        notes.append(f"{len(unread)} licence file(s) not read whole: {'; '.join(unread[:3])}")
    if unknown:
        notes.append(f"advisory: no licence found for {len(unknown)} component(s): {findings.head(unknown)}")
    counted = sum(1 for c in supply.components if c.licences)
    lab.note("; ".join(notes) or f"{counted} component(s), none under a forbidden licence")


@pytest.mark.check("supply.vulnerabilities")
def test_known_vulnerabilities(lab, target, installed):
    from lab.supply.feed_probe import feed_url, known_empty

    supply = gathered(lab, target, installed)
    none = NotApplicable("the lab has imported no vulnerability records (lab vulns import)")
    if known_empty(feed_url(lab.inventory)):  # without loading the database modules
        raise none
    from lab.supply import feed

    engine = feed.open_feed(lab.inventory)
    records = feed.records(engine)
    if not records:
        raise none
    passed, message = feed.judge(feed.findings(engine, supply.components),
                                 lab.inventory.model.lab.policy.fail_on_severity, records, len(supply.components))
    assert passed, message
    lab.note(message)
