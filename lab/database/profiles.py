"""Static dialect profiles: what a domestic database does not support, or does differently, from
the engine family the lab runs for real. One TOML file per product family in lab/db_profiles/,
every rule with its source.

A rule matches a statement by sqlglot node (``node`` and optionally ``kind``) or, for what sqlglot
only keeps as raw text, by a regular expression over the statement (``pattern``). A node rule may
add ``fallback``, a regular expression for the statements sqlglot cannot parse, so that a construct
the parser does not know (``OVERRIDING SYSTEM VALUE`` beside an ``ON CONFLICT``) cannot hide the
one the rule is about. Text rules see the statement with its string literals, quoted identifiers
and comments blanked (``Statement.code``). A statement sqlglot cannot parse is itself an advisory:
the lab could not look at it with every rule.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    from lab.database.sqlfile import Statement

PROFILES = Path(__file__).resolve().parent.parent / "db_profiles"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    syntax: str
    node: str | None = None
    kind: str | None = None
    pattern: str | None = None
    fallback: str | None = None
    severity: Literal["failure", "advisory"]
    message: str
    source: str

    @model_validator(mode="after")
    def _matches_something(self):
        if not (self.node or self.pattern):
            raise ValueError("a rule needs a node or a pattern")
        if self.fallback and not self.node:
            raise ValueError("fallback is for node rules, when the statement cannot be parsed")
        for regex in (self.pattern, self.fallback):
            if regex:
                re.compile(regex)
        return self


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


FLAGS = re.IGNORECASE | re.MULTILINE


def matches(rule: Rule, tree, text: str) -> bool:
    """Whether ``rule`` applies to a statement: ``tree`` is sqlglot's (None where it cannot parse
    the statement: then the node rule's ``fallback`` stands in for it), ``text`` the statement's."""
    if rule.pattern and re.search(rule.pattern, text, FLAGS):
        return True
    if rule.node and tree is None:
        return bool(rule.fallback and re.search(rule.fallback, text, FLAGS))
    if rule.node:
        for node in tree.walk():
            if type(node).__name__ == rule.node and (rule.kind is None or
                                                     str(node.args.get("kind", "")).upper() == rule.kind):
                return True
    return False


def findings(statements: list[Statement], engine: str, profiles: list[str], severity: str) -> list[str]:
    """One line per statement and rule of ``severity`` it matches, with the file, line, product and
    source; among the advisories, every statement the lab's parser could not analyse."""
    from lab.database.sqlfile import analyse

    out = []
    for st in statements:
        analysis = analyse(st, engine)
        if analysis.tree is None and severity == "advisory":
            out.append(f"{st.where}: statement {st.number} of {st.file} cannot be analysed by the lab's SQL parser: "
                       f"{analysis.problem}; only the text rules were applied to `{st.head}`")
        for name in profiles:
            profile = known_profiles()[name]
            out += [f"{st.where}: {rule.syntax}: {rule.message} [{profile.product}; {rule.source}]"
                    for rule in profile.rules
                    if rule.severity == severity and matches(rule, analysis.tree, st.code or st.text)]
    return out
