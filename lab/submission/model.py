"""The submission manifest, as CONTRACT.md section 1 fixes it. Field names are public: never rename.

Example (the smallest valid one)::

    schema = 1
    [product]
    name = "acme-hello"
    version = "1.2.0"
    vendor = "ACME Software Co., Ltd."
    [[artifacts]]
    path = "acme-hello_1.2.0_amd64.deb"
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lab.inventory.model import Strict

FORMATS = {".deb": "deb", ".rpm": "rpm", ".tar": "tar", ".tar.gz": "tar", ".tgz": "tar",
           ".tar.xz": "tar", ".tar.bz2": "tar"}


def _relative_inside(value: str) -> str:
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or not value:
        raise ValueError("must be a relative path inside the submission")
    return value


class Product(Strict):
    name: str
    version: str
    vendor: str
    summary: str = ""
    homepage: str = ""
    contact: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+_-]*", v):
            raise ValueError("must match [a-z0-9][a-z0-9.+_-]*")
        return v


class Artifact(Strict):
    path: str
    format: Literal["deb", "rpm", "tar"] | None = None
    sha256: str | None = None
    arch: str | None = None
    prefix: str | None = None
    install: str | None = None
    uninstall: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _relative_inside(v)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("must be 64 hexadecimal digits")
        return v.lower() if v else v

    @model_validator(mode="after")
    def _format(self) -> Artifact:
        if self.format is None:
            name = self.path.lower()
            fmt = next((f for suffix, f in sorted(FORMATS.items(), key=lambda x: -len(x[0]))
                        if name.endswith(suffix)), None)
            if fmt is None:
                raise ValueError(f"format: cannot infer from {self.path!r}; give deb, rpm or tar")
            object.__setattr__(self, "format", fmt)
        if self.format == "tar":
            if not self.prefix or not self.prefix.startswith("/"):
                raise ValueError("prefix: an absolute path is required for format = 'tar'")
        else:
            for field in ("prefix", "install", "uninstall"):
                if getattr(self, field):
                    raise ValueError(f"{field}: only for format = 'tar'")
        return self


class Service(Strict):
    command: str
    user: str = "root"
    ports: list[int] = Field(default_factory=list)
    health: str | None = None
    ready_timeout: float = Field(30, gt=0)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("ports")
    @classmethod
    def _ports(cls, v: list[int]) -> list[int]:
        bad = [p for p in v if not 0 < p < 65536]
        if bad:
            raise ValueError(f"not TCP ports: {bad}")
        return v


class Database(Strict):
    engines: list[Literal["postgresql", "mysql"]] = Field(min_length=1)
    schema_: str | None = Field(None, alias="schema")
    checks: str | None = None


class Claims(Strict):
    targets: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class Tests(Strict):
    paths: list[str] = Field(default_factory=lambda: ["tests"])


class Limits(Strict):
    install_timeout: float | None = Field(None, gt=0)
    command_timeout: float | None = Field(None, gt=0)


class Submission(Strict):
    schema_: Literal[1] = Field(alias="schema")
    product: Product
    artifacts: list[Artifact] = Field(min_length=1)
    service: Service | None = None
    database: Database | None = None
    claims: Claims = Claims()
    tests: Tests | None = None
    limits: Limits = Limits()
