"""The inventory model: one definition, from which validation, defaults and docs all derive.

Example::

    [[targets]]
    name = "debian12-x86_64"
    backend = "docker"
    tags = ["deb", "debian", "x86_64"]
    facts = { os_family = "debian", os_id = "debian", os_version = "12", arch = "x86_64" }
    docker = { image = "lab/debian12-x86_64", debootstrap = { suite = "bookworm", arch = "amd64" } }
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a lab's inventory must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(default: float, **bounds) -> float:
    """A number field that refuses inf and NaN (``1e309`` in TOML is inf)."""
    return Field(default, allow_inf_nan=False, **bounds)


class Limits(Strict):
    """The lab's limits. The first two are defaults a submission's ``[limits]`` may change, up to
    the ``max_`` values; the rest bound what a vendor can make the lab store or unpack.

    Example (``targets.toml``)::

        [lab.limits]
        install_timeout = 300
        max_install_timeout = 3600
        archive_max_bytes = 2147483648
    """

    install_timeout: float = _finite(300, gt=0)
    command_timeout: float = _finite(120, gt=0)
    max_install_timeout: float = _finite(3600, gt=0, le=86400, description="the most a submission may ask for")
    max_command_timeout: float = _finite(1800, gt=0, le=86400, description="the most a submission may ask for")
    worker_timeout: float = _finite(7200, gt=0, description="wall clock of one target's whole worker, seconds")
    output_max_bytes: int = Field(1 << 20, ge=4096, description="per command and stream: head and tail kept")
    disk_quota: str = Field("4g", description="what a target or the vendor-test runner may write (512m, 4g)")
    archive_max_bytes: int = Field(2 << 30, gt=0, description="total unpacked size of a submission archive")
    archive_max_members: int = Field(10_000, gt=0, description="files and folders in a submission archive")
    archive_max_ratio: float = _finite(200, gt=1, description="unpacked size / archive size")
    name_max_bytes: int = Field(255, gt=0, le=255, description="one component of a path in an archive")
    path_max_bytes: int = Field(1024, gt=0, le=4096, description="a whole path in an archive")

    @field_validator("disk_quota")
    @classmethod
    def _quota(cls, v: str) -> str:
        return size_text(v)

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> Limits:
        for name in ("install_timeout", "command_timeout"):
            if getattr(self, name) > getattr(self, f"max_{name}"):
                raise ValueError(f"{name} {getattr(self, name):g} is above max_{name} "
                                 f"{getattr(self, f'max_{name}'):g}")
        return self

    @property
    def disk_quota_bytes(self) -> int:
        return size_bytes(self.disk_quota)


def size_text(v: str) -> str:
    """``512m``, ``2g``, ``4096``: a size as docker writes it."""
    if not re.fullmatch(r"\d{1,15}[kmg]?", v.lower()):
        raise ValueError("must look like 512m or 2g")
    return v.lower()


def size_bytes(v: str) -> int:
    unit = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(v[-1:], 1)
    return int(v.rstrip("kmg")) * unit


SEVERITIES = ("low", "medium", "high", "critical")


class Policy(Strict):
    """What the supply-chain checks refuse and how long a certificate lasts (section 6).

    Example (``targets.toml``)::

        [lab.policy]
        forbidden_licences = ["AGPL-3.0-only", "SSPL-1.0"]
        fail_on_severity = "high"
        certificate_days = 365
    """

    forbidden_licences: list[str] = Field(default_factory=list, description="SPDX ids a product may not ship")
    fail_on_severity: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="known vulnerabilities at or above it fail")
    certificate_days: int = Field(365, gt=0, le=3650, description="how long a certificate is valid")


class StabilitySettings(Strict):
    """The lab's default watch of a service (``[lab.stability]``); a submission may ask for longer."""

    duration: float = _finite(60, gt=0, le=86400, description="seconds of watching, by default")
    max_duration: float = _finite(43200, gt=0, le=86400, description="the most a submission may ask for")
    interval: float = _finite(2, gt=0, le=600, description="seconds between samples")
    kills: int = Field(10, ge=1, le=100, description="kill -9 and come back, this many times")


class CacheSettings(Strict):
    """The controller's cache of what targets download from their OS repositories (docs/cache.md)."""

    folder: str | None = Field(None, description="where; default $LAB_CACHE, else "
                                                 "~/.cache/adaptation-lab/packages; 'off' turns the cache off")
    max_size: str = Field("4g", description="bound of the cache; least recently used entries go first (512m, 4g)")

    @field_validator("max_size")
    @classmethod
    def _size(cls, v: str) -> str:
        return size_text(v)

    @property
    def max_bytes(self) -> int:
        return size_bytes(self.max_size)


class LabSettings(Strict):
    name: str = "Adaptation Lab"
    mirror: str | None = Field(None, description="Debian mirror URI; default: the machine's apt sources")
    registry: str | None = Field(None, description="the centre's image registry; none in this lab")
    catalogue: str | None = Field(None, description="SQLAlchemy URL of the catalogue; default SQLite "
                                                    "reports/catalogue.db beside the inventory")
    allowed_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="where boards may be reached; a real centre adds its board network")
    signing_key: str | None = Field(None, description="Ed25519 key for certificates; default $LAB_SIGNING_KEY "
                                                      "or ~/.local/share/adaptation-lab/signing-key.pem")
    limits: Limits = Limits()
    cache: CacheSettings = CacheSettings()
    policy: Policy = Policy()
    stability: StabilitySettings = StabilitySettings()
    site_url: str | None = Field(None, max_length=400, description="where buyers read the published catalogue "
                                 "(the PDF report's QR code points there); default $LAB_SITE_URL or the service's URL")
    languages: list[Literal["zh-CN", "en"]] = Field(
        default_factory=lambda: ["zh-CN", "en"], min_length=1,
        description="languages of the buyers' site, the service's portal, certificates' pages and the PDF; "
                    "the first is the default")


class DeclaredFacts(Strict):
    """What the engineer says the target is; the lab checks it against the gathered facts."""

    os_family: str
    os_id: str
    os_version: str
    arch: Literal["x86_64", "aarch64", "loongarch64", "mips64", "sw_64", "riscv64"]


class Debootstrap(Strict):
    suite: str
    arch: str = "amd64"
    variant: str = "minbase"
    components: list[str] = ["main"]
    updates: bool = Field(True, description="the release's -updates and -security suites too (a maintained "
                                            "installation); false freezes the image at the release")
    packages: list[str] = Field(default_factory=list, description="extra packages in the tools layer")


class DockerfileLayer(Strict):
    path: str = Field(description="Dockerfile, relative to the inventory file")
    base: str = Field(description="name of the target whose image is the FROM")


MIN_MEMORY = 6 << 20  # Docker refuses less


class ResourceLimits(Strict):
    memory: str = "1g"
    pids: int = Field(512, gt=0)
    cpus: float = _finite(1.0, gt=0)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        v = size_text(v)
        if size_bytes(v) < MIN_MEMORY:  # Docker reads 0 as no limit at all (a review's "0" passed)
            raise ValueError(f"must be at least 6m (Docker's smallest; 0 would mean no limit), given {v}")
        return v


class DockerSpec(Strict):
    image: str
    debootstrap: Debootstrap | None = None
    dockerfile: DockerfileLayer | None = None
    limits: ResourceLimits = ResourceLimits()

    @model_validator(mode="after")
    def _one_recipe(self) -> DockerSpec:
        if self.debootstrap and self.dockerfile:
            raise ValueError("give either debootstrap or dockerfile, not both")
        return self

    @property
    def buildable(self) -> bool:
        return bool(self.debootstrap or self.dockerfile)


class SshSpec(Strict):
    host: str
    port: int = Field(22, gt=0, lt=65536)
    user: str = "root"
    key_file: str | None = None
    password_env: str | None = Field(None, description="name of the environment variable holding it")
    host_key: str | None = Field(None, description="pinned public key, 'ssh-ed25519 AAAA...'")
    known_hosts: str | None = None
    trust_on_first_use: bool = False
    health: str | None = Field(None, description="run before use; a board that fails it is broken")
    reset: str | None = Field(None, description="run after use, to put the board back in shape")
    connect_timeout: float = Field(10, gt=0)
    simulated_from: str | None = Field(None, description="lab boards up: the docker target whose image "
                                                         "this simulated board runs (with sshd)")


class ExternalDatabase(Strict):
    """A server the centre runs elsewhere; the lab reaches it from the controller (SQLAlchemy)."""

    host: str
    port: int = Field(gt=0, lt=65536)
    admin_user: str
    admin_password_env: str = Field(description="environment variable holding the admin password")
    admin_database: str = Field("postgres", description="database the admin connects to first")


class DatabaseSpec(Strict):
    """The database of a stack target: which engine family, which server, which products it stands for."""

    engine: Literal["postgresql", "mysql"] = Field(description="the dialect family")
    server: str = Field(description='e.g. "PostgreSQL 15" or "MariaDB 10.11"')
    stands_for: list[str] = Field(default_factory=list, description="domestic products this profile stands for")
    profiles: list[str] = Field(default_factory=list, description="files in lab/db_profiles/ checked statically")
    external: ExternalDatabase | None = None

    @model_validator(mode="after")
    def _external(self) -> DatabaseSpec:
        if self.external and self.engine != "postgresql":
            raise ValueError("external: only postgresql servers can be external so far")
        return self

    @field_validator("profiles")
    @classmethod
    def _profiles(cls, v: list[str]) -> list[str]:
        from lab.database.profiles import known_profiles

        unknown = [p for p in v if p not in known_profiles()]
        if unknown:
            raise ValueError(f"unknown profile(s) {unknown}; known: {sorted(known_profiles())}")
        return v


class Target(Strict):
    name: str
    enabled: bool = True
    backend: Literal["docker", "ssh"]
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    facts: DeclaredFacts
    docker: DockerSpec | None = None
    ssh: SshSpec | None = None
    database: DatabaseSpec | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("must match [a-z0-9][a-z0-9._-]*")
        return v

    @model_validator(mode="after")
    def _backend_table(self) -> Target:
        if getattr(self, self.backend) is None:
            raise ValueError(f"backend = {self.backend!r} needs a [targets.{self.backend}] table")
        return self

    @model_validator(mode="after")
    def _arch_tags(self) -> Target:
        """A tag naming another architecture than the target's facts would plan an aarch64 claim on
        an x86_64 target, and the product would fail for the lab's typo (a review)."""
        from lab.arch import ARCHES, deb_name

        arches = set(ARCHES) | {a.deb for a in ARCHES.values()}
        wrong = sorted(t for t in self.tags if t in arches and t not in (self.facts.arch, deb_name(self.facts.arch)))
        if wrong:
            raise ValueError(f"tags: {', '.join(wrong)} is another architecture than facts.arch "
                             f"({self.facts.arch}): products built for it would be planned here")
        return self

    @property
    def all_tags(self) -> set[str]:
        return {*self.tags, self.facts.arch, self.facts.os_id}


class Inventory(Strict):
    lab: LabSettings = LabSettings()
    targets: list[Target]

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate target names: {', '.join(dupes)}")
        for t in self.targets:
            layer = t.docker.dockerfile if t.docker else None
            if layer and layer.base not in names:
                raise ValueError(f"target {t.name}: dockerfile.base {layer.base!r} is not a target")
        return self

    def get(self, name: str) -> Target:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def enabled(self) -> list[Target]:
        return [t for t in self.targets if t.enabled]
