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
REPLACEABILITY = "portability: replaceability"
USABILITY = "usability: operability"


@dataclass(frozen=True)
class Suite:
    name: str
    file: str
    severity: str          # Allure severity of its required checks
    characteristic: str    # what its checks evidence, unless a check says otherwise
    title: str = ""        # in a buyer's words


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str = ""                # what it looks at, in a buyer's words
    required: bool = True          # advisory checks (False) never change the verdict
    characteristic: str | None = None
    needs_install: bool = True     # False: runs even when only some suites are chosen

    @property
    def suite(self) -> str:
        return self.id.split(".", 1)[0]


# In the order a target runs them; the uninstall part of `install` comes last of all.
SUITES: list[Suite] = [
    Suite("install", "test_install.py", "blocker", INSTALLABILITY, "Installing it"),
    Suite("package", "test_package.py", "critical", ADAPTABILITY, "Its package"),
    Suite("security", "test_security.py", "normal", SECURITY, "Security"),
    Suite("supply", "test_supply.py", "critical", SECURITY, "What it is made of"),
    Suite("database", "test_database.py", "critical", INTEROPERABILITY, "Its database"),
    Suite("service", "test_service.py", "critical", RELIABILITY, "Its service"),  # first to start it: service.ready
    Suite("desktop", "test_desktop.py", "critical", ADAPTABILITY, "Its desktop application"),
    Suite("footprint", "test_footprint.py", "trivial", PERFORMANCE, "Its footprint"),  # holds its evidence
    Suite("stability", "test_stability.py", "critical", RELIABILITY, "Its service over time"),
    Suite("vendor", "test_vendor.py", "critical", FUNCTIONAL, "The vendor's own tests"),
    # after the uninstall: the earlier release is installed afresh, then upgraded in place
    Suite("upgrade", "test_upgrade.py", "critical", REPLACEABILITY, "Upgrading from its earlier release"),
]
SUITE = {s.name: s for s in SUITES}
# The order a target's report lists the checks in: the suites above, the uninstall after them all.
REPORT_FILES = [s.file for s in SUITES if s.name != "upgrade"] + ["test_uninstall.py", "test_upgrade.py"]
# The suites that run while the stability watch samples the service in the background: they read
# the installed files (or start an application of their own) and nothing of the service, so the
# watch's duration is spent on them instead of waited out. What changes the system (install,
# security's comparison of what the install changed) comes before the service starts; what uses the
# service (footprint's memory, the vendor's tests) stays out of the watch, so neither measures the
# other; the repeated SIGKILLs of stability.kill_restart follow it.
DURING_WATCH = ("package", "supply", "desktop")
RUN_ORDER = ["install", "security", "database", "service", "footprint", *DURING_WATCH, "stability", "vendor"]
# The order a target runs them in: what runs during the watch right after the service's own checks.
FILES = [SUITE[name].file for name in RUN_ORDER] + ["test_uninstall.py", "test_upgrade.py"]
LATE = {"service.stop": "test_vendor.py"}  # runs right after that file: vendor tests need the service up
IN_FILE = {"install.uninstall": "test_uninstall.py", "install.leftovers": "test_uninstall.py"}

CHECKS: dict[str, CheckSpec] = {c.id: c for c in [
    CheckSpec("install.package", "Installing the package", needs_install=False),
    CheckSpec("install.idempotent", "Installing it a second time"),
    CheckSpec("install.uninstall", "Uninstalling it"),
    CheckSpec("install.leftovers", "Files left behind after removal"),
    CheckSpec("package.elf_machine", "The CPU its programs are built for"),
    CheckSpec("package.symbol_versions", "C library versions it needs"),
    CheckSpec("package.needed_libraries", "Libraries it needs"),
    CheckSpec("package.runpath", "Where its programs look for libraries"),
    CheckSpec("package.abi", "Its libraries' interface against the earlier release",
              characteristic=REPLACEABILITY),
    CheckSpec("supply.sbom", "The list of what it is made of (SBOM)"),
    CheckSpec("supply.licences", "The licences of what it ships"),
    CheckSpec("supply.vulnerabilities", "Known vulnerabilities in what it ships"),
    CheckSpec("security.world_writable", "Files anyone can change"),
    CheckSpec("security.setuid", "Files that run with raised privileges"),
    CheckSpec("security.system_files", "Changes to the system's own files"),
    CheckSpec("security.daemons", "Programs it leaves running in the background", required=False),
    CheckSpec("security.elf_hardening", "Hardening of its programs", required=False),
    CheckSpec("security.outside_prefix", "Files outside its folder", required=False),
    CheckSpec("database.schema", "Its database schema"),
    CheckSpec("database.checks", "Its database checks"),
    CheckSpec("database.dialect", "The SQL it uses", characteristic=ADAPTABILITY),
    CheckSpec("database.dialect_advisories", "SQL that differs between products", required=False,
              characteristic=ADAPTABILITY),
    CheckSpec("footprint.installed_size", "Its size on disk"),
    CheckSpec("footprint.service", "Its service's memory"),
    CheckSpec("service.ready", "Its service starting"),
    CheckSpec("service.ports", "The network ports its service opens", characteristic=CO_EXISTENCE),
    CheckSpec("service.restart", "Its service coming back after a crash"),
    CheckSpec("service.stop", "Its service stopping"),
    CheckSpec("desktop.entry", "Its menu entry"),
    CheckSpec("desktop.icon", "Its icon"),
    CheckSpec("desktop.launch", "Starting it from the menu"),
    CheckSpec("desktop.window", "Its window appearing"),
    CheckSpec("desktop.screenshot", "What its window shows"),
    CheckSpec("desktop.locale", "Its window in each language", characteristic=USABILITY),
    CheckSpec("desktop.close", "Closing its window"),
    CheckSpec("stability.uptime", "Its service staying up"),
    CheckSpec("stability.memory", "Its service's memory over time"),
    CheckSpec("stability.fds", "Its service's open files over time"),
    CheckSpec("stability.kill_restart", "Its service coming back after repeated crashes"),
    CheckSpec("vendor.tests", "The vendor's own tests"),
    CheckSpec("upgrade.previous", "Installing the earlier release"),
    CheckSpec("upgrade.apply", "Upgrading to this release"),
    CheckSpec("upgrade.data", "Its data surviving the upgrade"),
    CheckSpec("upgrade.config", "An administrator's settings surviving the upgrade"),
    CheckSpec("upgrade.service", "Its service after the upgrade"),
    CheckSpec("upgrade.vendor_tests", "The vendor's own tests after the upgrade"),
]}


def check(check_id: str) -> CheckSpec:
    """The spec of a check; a vendor's own test (``vendor.<name>``) counts like ``vendor.tests``;
    anything else the lab does not know (``lab.worker``, ``lab.run``) is required."""
    if check_id in CHECKS:
        return CHECKS[check_id]
    return CheckSpec(check_id)


def title(check_id: str) -> str:
    """What a check looks at in a buyer's words; a vendor's own test by its suite's."""
    spec = check(check_id)
    suite = SUITE.get(spec.suite)
    return spec.title or (suite.title if suite else "")


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
    return _rank(check_id, file, FILES)


def report_rank(check_id: str) -> float:
    """Where a check stands in a target's results and report, whatever order it ran in."""
    spec = check(check_id)
    suite = SUITE.get(spec.suite)
    return _rank(check_id, IN_FILE.get(check_id, suite.file if suite else ""), REPORT_FILES)


def _rank(check_id: str, file: str, order: list[str]) -> float:
    if check_id in LATE:
        return order.index(LATE[check_id]) + 0.5
    return order.index(file) if file in order else order.index("test_vendor.py")


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


def suites_version() -> str:
    """The suites' version, as a certificate names it: the sha256 of every suite file (and the
    other Python files of the ``suites`` package) and of this registry. A change to any check, or
    to how one counts, changes it, and ``lab recertify`` then runs the certifications again."""
    import hashlib

    folder = suites_dir()
    h = hashlib.sha256()
    for path in sorted([*folder.glob("*.py"), *folder.glob("*.ini"), Path(__file__).resolve()]):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
