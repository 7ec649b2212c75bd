"""The one registry of suites and checks: every other place (plan, plugin, report, catalogue,
PDF) reads a check's metadata from here, never from a table of its own.

A check's id is written once more, in its suite file's ``@pytest.mark.check("suite.check")``; the
registry says how it counts (required or advisory), how severe a failure is in the report, and
which quality characteristic of GB/T 25000.51 it evidences. ``suites/`` stays at the top of the
project and is found here, also from a non-editable install (it is packaged as ``suites``).

Example::

    spec = check("security.elf_hardening")   # CheckSpec(required=False, characteristic="security", ...)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from lab.errors import InfrastructureError

# GB/T 25000.51 (ISO/IEC 25051) quality characteristics, with their sub-characteristics.
INSTALLABILITY = "portability: installability"
ADAPTABILITY = "portability: adaptability"
CO_EXISTENCE = "compatibility: co-existence"
INTEROPERABILITY = "compatibility: interoperability"
RELIABILITY = "reliability"
SECURITY = "security"
PERFORMANCE = "performance efficiency"
FUNCTIONAL = "functional suitability"


@dataclass(frozen=True)
class Suite:
    name: str
    file: str
    severity: str          # Allure severity of its required checks
    characteristic: str    # what its checks evidence, unless a check says otherwise


@dataclass(frozen=True)
class CheckSpec:
    id: str
    required: bool = True          # advisory checks (False) never change the verdict
    characteristic: str | None = None
    needs_install: bool = True     # False: runs even when only some suites are chosen

    @property
    def suite(self) -> str:
        return self.id.split(".", 1)[0]


# In the order a target runs them; the uninstall part of `install` comes last of all.
SUITES: list[Suite] = [
    Suite("install", "test_install.py", "blocker", INSTALLABILITY),
    Suite("package", "test_package.py", "critical", ADAPTABILITY),
    Suite("security", "test_security.py", "normal", SECURITY),
    Suite("database", "test_database.py", "critical", INTEROPERABILITY),
    Suite("service", "test_service.py", "critical", RELIABILITY),  # first to start it: service.ready holds its evidence
    Suite("footprint", "test_footprint.py", "trivial", PERFORMANCE),
    Suite("vendor", "test_vendor.py", "critical", FUNCTIONAL),
]
FILES = [s.file for s in SUITES] + ["test_uninstall.py"]
LATE = {"service.stop": "test_vendor.py"}  # runs right after that file: vendor tests need the service up

CHECKS: dict[str, CheckSpec] = {c.id: c for c in [
    CheckSpec("install.package", needs_install=False),
    CheckSpec("install.idempotent"),
    CheckSpec("install.uninstall"),
    CheckSpec("install.leftovers"),
    CheckSpec("package.elf_machine"),
    CheckSpec("package.symbol_versions"),
    CheckSpec("package.needed_libraries"),
    CheckSpec("package.runpath"),
    CheckSpec("security.world_writable"),
    CheckSpec("security.setuid"),
    CheckSpec("security.system_files"),
    CheckSpec("security.daemons", required=False),
    CheckSpec("security.elf_hardening", required=False),
    CheckSpec("security.outside_prefix", required=False),
    CheckSpec("database.schema"),
    CheckSpec("database.checks"),
    CheckSpec("database.dialect", characteristic=ADAPTABILITY),
    CheckSpec("database.dialect_advisories", required=False, characteristic=ADAPTABILITY),
    CheckSpec("footprint.installed_size"),
    CheckSpec("footprint.service"),
    CheckSpec("service.ready"),
    CheckSpec("service.ports", characteristic=CO_EXISTENCE),
    CheckSpec("service.restart"),
    CheckSpec("service.stop"),
    CheckSpec("vendor.tests"),
]}
SUITE = {s.name: s for s in SUITES}


def check(check_id: str) -> CheckSpec:
    """The spec of a check; a vendor's own test (``vendor.<name>``) counts like ``vendor.tests``;
    anything else the lab does not know (``lab.worker``, ``lab.run``) is required."""
    if check_id in CHECKS:
        return CHECKS[check_id]
    return CheckSpec(check_id)


def characteristic(check_id: str) -> str:
    spec = check(check_id)
    suite = SUITE.get(spec.suite)
    return spec.characteristic or (suite.characteristic if suite else "lab")


def severity(check_id: str) -> str:
    spec = check(check_id)
    if not spec.required:
        return "minor"
    suite = SUITE.get(spec.suite)
    return suite.severity if suite else "normal"


def rank(check_id: str, file: str) -> float:
    """Where a check runs among the others on a target."""
    if check_id in LATE:
        return FILES.index(LATE[check_id]) + 0.5
    return FILES.index(file) if file in FILES else FILES.index("test_vendor.py")


def suites_dir() -> Path:
    """The folder of the compatibility suites: the top-level ``suites`` package, wherever the
    project is installed."""
    spec = importlib.util.find_spec("suites")
    if spec is None or not spec.submodule_search_locations:
        raise InfrastructureError("the compatibility suites (package `suites`) are not installed with the lab")
    return Path(next(iter(spec.submodule_search_locations)))


def suite_files() -> list[str]:
    folder = suites_dir()
    return [str(folder / f) for f in FILES if (folder / f).exists()]


def suite_names() -> list[str]:
    return [s.name for s in SUITES]
