"""Static dialect profiles: what a domestic database does not support, or does differently, from
the engine family the lab runs for real. One TOML file per product family in lab/db_profiles/,
every rule with its source.

A rule matches a statement by sqlglot node (``node`` and optionally ``kind``) or, for what sqlglot
only keeps as raw text, by a regular expression over the statement (``pattern``).
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

PROFILES = Path(__file__).resolve().parent.parent / "db_profiles"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    syntax: str
    node: str | None = None
    kind: str | None = None
    pattern: str | None = None
    severity: Literal["failure", "advisory"]
    message: str
    source: str


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    product: str
    family: Literal["postgresql", "mysql"]
    versions: str
    rules: list[Rule]


@functools.cache
def known_profiles() -> dict[str, Profile]:
    out = {}
    for path in sorted(PROFILES.glob("*.toml")):
        out[path.stem] = Profile.model_validate(tomllib.loads(path.read_text()))
    return out


def matches(rule: Rule, tree, text: str) -> bool:
    if rule.pattern and re.search(rule.pattern, text, re.IGNORECASE | re.MULTILINE):
        return True
    if rule.node and tree is not None:
        for node in tree.walk():
            if type(node).__name__ == rule.node and (rule.kind is None or
                                                     str(node.args.get("kind", "")).upper() == rule.kind):
                return True
    return False
