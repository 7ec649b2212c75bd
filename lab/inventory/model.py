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


class Limits(Strict):
    """Seconds; a submission's own ``[limits]`` may lower or raise them per run."""

    install_timeout: float = Field(300, gt=0)
    command_timeout: float = Field(120, gt=0)


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
    packages: list[str] = Field(default_factory=list, description="extra packages in the tools layer")


class DockerfileLayer(Strict):
    path: str = Field(description="Dockerfile, relative to the inventory file")
    base: str = Field(description="name of the target whose image is the FROM")


class ResourceLimits(Strict):
    memory: str = "1g"
    pids: int = Field(512, gt=0)
    cpus: float = Field(1.0, gt=0)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not re.fullmatch(r"\d+[kmg]?", v.lower()):
            raise ValueError("memory must look like 512m or 2g")
        return v.lower()


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
