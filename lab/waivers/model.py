"""The model of ``waivers.toml``: one ``[[waivers]]`` entry per accepted finding.

Example::

    [[waivers]]
    check = "security.elf_hardening"
    product = "acme-hello"
    versions = ["1.2.0"]                # optional: every version when omitted
    targets = ["debian12-aarch64"]      # optional: every target when omitted
    reason = "upstream toolchain for arm64 lacks full RELRO; fixed in 1.3"
    reviewer = "Li Wei"
    expires = 2027-06-30                # a TOML date, not a string

The file is the lab's, but what it says ends up in signed certificates and on the buyers' pages:
every string is bounded, printable and on one line, and unknown keys are errors (a misspelt
``target`` must not silently widen a waiver to every target).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from lab.inventory.model import NAME as TARGET_NAME
from lab.submission.model import LINE, SHORT

CHECK_ID = re.compile(r"^[a-z_]+\.[A-Za-z0-9_.\[\]-]+$")
MAX_WAIVERS = 1000
MAX_LIST = 100


def _one_line(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if not value.isprintable():
        raise ValueError("must be printable text on one line")
    return value


def _check_id(value: str) -> str:
    if not CHECK_ID.match(value):
        raise ValueError("must be a check id like security.elf_hardening")
    return value


def _target(value: str) -> str:
    if not TARGET_NAME.match(value):
        raise ValueError(f"a target name must match {TARGET_NAME.pattern}")
    return value


def _a_date(value: object) -> object:
    """A TOML date (``2027-06-30``): not a string, and not a date-time (which day would it end?)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError("must be a TOML date like 2027-06-30 (no quotes, no time)")
    return value


Line = Annotated[str, Field(min_length=1, max_length=LINE), AfterValidator(_one_line)]
Short = Annotated[str, Field(min_length=1, max_length=SHORT), AfterValidator(_one_line)]
CheckId = Annotated[str, Field(min_length=3, max_length=SHORT), AfterValidator(_check_id)]
TargetName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_target)]
TomlDate = Annotated[date, BeforeValidator(_a_date)]


class WaiverEntry(BaseModel):
    """One accepted finding: which failure, where, why, who said so, and until when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: CheckId = Field(description="the check id, as in verdicts.json")
    product: Short = Field(description="the product's name")
    versions: list[Short] | None = Field(None, min_length=1, max_length=MAX_LIST,
                                         description="only these versions (every version when omitted)")
    targets: list[TargetName] | None = Field(None, min_length=1, max_length=MAX_LIST,
                                             description="only these targets (every target when omitted)")
    reason: Line = Field(description="why the failure is accepted, in words a buyer can read")
    reviewer: Short = Field(description="the engineer who accepted it")
    expires: TomlDate = Field(description="the last day it applies")

    def covers(self, product: str, version: str, target: str, check_id: str) -> bool:
        return (self.check == check_id and self.product == product
                and (self.versions is None or version in self.versions)
                and (self.targets is None or target in self.targets))

    def expired(self, today: date) -> bool:
        return today > self.expires


class WaiversFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[WaiverEntry] = Field(default_factory=list, max_length=MAX_WAIVERS)
