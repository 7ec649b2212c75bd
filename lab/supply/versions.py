"""Whether a version falls in an OSV record's affected ranges, in each ecosystem's own ordering.

Debian's ordering is dpkg's (``1:2.0~rc1-1`` < ``1:2.0-1``; python-debian), PyPI's is PEP 440
(``packaging``), npm's and Go's are semantic versioning (``semver``; Go's leading ``v`` dropped).
An ecosystem the lab has no ordering for is matched by the record's explicit ``versions`` only, so
a record never matches by a wrong comparison.

Example::

    affected(Affected(...ranges=[introduced "0", fixed "7.88.1-10+deb12u5"]), "Debian:12", "7.88.1-10+deb12u4")
    # (True, "7.88.1-10+deb12u5")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key

OrderKey = Callable[[str], object]


def _debian(v: str):
    from debian.debian_support import Version

    return Version(v)


def _pep440(v: str):
    from packaging.version import Version

    return Version(v)


def _semver(v: str):
    import semver

    v = v[1:] if v.startswith("v") else v
    if re.fullmatch(r"\d+(\.\d+)?", v):  # "1" or "1.2": semver wants three parts
        v = ".".join([*v.split("."), "0", "0"][:3])
    return semver.Version.parse(v)


def ordering(ecosystem: str, range_type: str = "ECOSYSTEM") -> OrderKey | None:
    """The key that orders versions of ``ecosystem`` (``Debian:12`` -> Debian's), or None."""
    if range_type == "SEMVER":
        return _semver
    if range_type != "ECOSYSTEM":
        return None  # GIT ranges name commits, not versions
    base = ecosystem.split(":", 1)[0]
    if base in ("Debian", "Ubuntu"):
        return _debian
    if base == "PyPI":
        return _pep440
    if base in ("npm", "Go", "crates.io", "Packagist", "Hex", "Pub"):
        return _semver
    return None


def normal_name(ecosystem: str, name: str) -> str:
    """How records and components name a package alike (PyPI's names are case- and dash-blind)."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def ecosystem_matches(record: str, component: str) -> bool:
    """``Debian`` covers every release; ``Debian:12`` only that one."""
    return record == component or (":" not in record and component.split(":", 1)[0] == record)


def _in_range(events: list[dict], key: OrderKey, version) -> tuple[bool, str | None]:
    """OSV's evaluation: walk the events in version order; the fixed version found, if any."""
    def ev_key(ev: dict):
        value = next(iter(v for k, v in ev.items() if v is not None))
        return (0, None) if value == "0" and ev.get("introduced") == "0" else (1, key(value))

    def cmp(a, b) -> int:
        ka, kb = ev_key(a), ev_key(b)
        if ka[0] != kb[0]:
            return ka[0] - kb[0]
        return 0 if ka[0] == 0 else (ka[1] > kb[1]) - (ka[1] < kb[1])

    affected, fixed = False, None
    for ev in sorted(events, key=cmp_to_key(cmp)):
        if ev.get("introduced") is not None:
            if ev["introduced"] == "0" or version >= key(ev["introduced"]):
                affected = True
        elif ev.get("fixed") is not None:
            if version >= key(ev["fixed"]):
                affected = False
            elif affected and fixed is None:
                fixed = ev["fixed"]
        elif ev.get("last_affected") is not None:
            affected = affected and not version > key(ev["last_affected"])
        elif ev.get("limit") is not None:
            affected = affected and not version >= key(ev["limit"])
    return affected, fixed if affected else None


def affected(ranges: list[dict], versions: list[str], ecosystem: str, version: str) -> tuple[bool, str | None]:
    """(whether ``version`` is affected, the version that fixes it when a range says so)."""
    if version in versions:
        fix = None
        for r in ranges:
            fix = fix or next((e["fixed"] for e in r.get("events", []) if e.get("fixed")), None)
        return True, fix
    for r in ranges:
        key = ordering(ecosystem, r.get("type", "ECOSYSTEM"))
        if key is None:
            continue
        try:
            hit, fixed = _in_range(r.get("events", []), key, key(version))
        except (ValueError, TypeError):
            continue  # a version this ordering cannot read: no claim either way
        if hit:
            return True, fixed
    return False, None
