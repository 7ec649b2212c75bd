"""Which checks a submission never asked for on a target, decided from the manifest and the
inventory entry alone, before any fixture runs.

Why before: a check's fixtures provision the target first. When the target cannot be provisioned
(an image not built, a board that does not answer), every check would then be *broken* with the
lab's reason, also the database checks of a product that declares no database or the desktop
checks of a command-line tool: a list of forty broken checks where the truth is "the lab could not
start this target" and "these do not apply". The same reasons are what the suites' own fixtures
raise once the target is up, so a check reads the same whether or not provisioning worked.
"""

from __future__ import annotations

from lab.errors import NotApplicable

NO_SERVICE = "the submission declares no [service]"
NO_TESTS = "the submission has no [tests]"
NO_UPGRADE = "the submission has no [upgrade]"
NO_DESKTOP = "the submission declares no [desktop]: not a graphical application"
ONLY_TARBALLS = "only tarballs declare a prefix"


def database_reason(sub, target) -> str | None:
    """Why the target's database is not this submission's to test, or None."""
    spec, claim = target.database, sub.database
    if spec is None:
        return f"{target.name} offers no database"
    if claim is None:
        return "the submission declares no [database]"
    if spec.engine not in claim.engines:
        return f"{target.name} offers {spec.engine} ({spec.server}); the submission claims {', '.join(claim.engines)}"
    return None


def desktop_reason(sub, target) -> str | None:
    if sub.desktop is None:
        return NO_DESKTOP
    if "desktop" not in target.all_tags:
        return (f"{target.name} has no desktop (no tag `desktop`); graphical applications are tested on the "
                "desktop targets")
    return None


def _database_check(check: str, sub, target) -> str | None:
    if why := database_reason(sub, target):
        return why
    field = {"database.schema": "schema_", "database.checks": "checks"}.get(check)
    if field and not getattr(sub.database, field):
        return f"the submission gives no database.{field.rstrip('_')}"
    if check.startswith("database.dialect") and not target.database.profiles:
        return f"{target.name} lists no dialect profile"
    return None


def _upgrade_check(check: str, sub, target) -> str | None:
    if sub.upgrade is None:
        return NO_UPGRADE
    if check == "upgrade.service" and sub.service is None:
        return NO_SERVICE
    if check == "upgrade.vendor_tests" and sub.tests is None:
        return NO_TESTS
    return None


def _service_check(_check: str, sub, _target) -> str | None:
    return NO_SERVICE if sub.service is None else None


BY_SUITE = {
    "database": _database_check,
    "desktop": lambda _c, sub, target: desktop_reason(sub, target),
    "upgrade": _upgrade_check,
    "service": _service_check,
    "stability": _service_check,
}
BY_CHECK = {
    "footprint.service": _service_check,
    "vendor.tests": lambda _c, sub, _t: NO_TESTS if sub.tests is None else None,
    "package.abi": lambda _c, sub, _t: NO_UPGRADE if sub.upgrade is None else None,
    "security.outside_prefix": lambda _c, sub, _t: None if any(a.format == "tar" for a in sub.artifacts)
    else ONLY_TARBALLS,
}


def not_applicable(check: str, sub, target) -> str | None:
    """The reason ``check`` does not apply to the submission ``sub`` (its model) on ``target`` (its
    inventory entry), or None when only the provisioned target can tell."""
    decide = BY_CHECK.get(check) or BY_SUITE.get(check.split(".")[0])
    return decide(check, sub, target) if decide else None


def require(check: str, sub, target) -> None:
    """Raise ``NotApplicable`` with the reason, for the suites' own fixtures."""
    if why := not_applicable(check, sub, target):
        raise NotApplicable(why)
