"""``verdicts.json`` (CONTRACT section 3) as one model; its JSON Schema is generated from here.

Fields named in the contract are public and never renamed; fields may be added.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class Outcome(StrEnum):
    """A check's outcome and a target's verdict. *failed* is the product's fault, *broken* the
    lab's, *skipped* not applicable here (with the reason)."""

    PASSED = "passed"
    FAILED = "failed"
    BROKEN = "broken"
    SKIPPED = "skipped"
    WAIVED = "waived"  # a failure an unexpired waiver accepts: does not fail its target

    @property
    def severity(self) -> int:
        return {"failed": 3, "broken": 2, "waived": 1, "passed": 1, "skipped": 0}[self.value]

    @property
    def whose_fault(self) -> str:
        return {"failed": "the product's fault", "broken": "the lab's fault"}.get(self.value, "")

    @classmethod
    def reduce(cls, outcomes: Iterable[str]) -> Outcome:
        """The worst of them: failed > broken > passed (waived counts as passed); none, or all
        skipped, is skipped."""
        found = [cls.PASSED if cls(o) is cls.WAIVED else cls(o) for o in outcomes]
        if not found or all(o is cls.SKIPPED for o in found):
            return cls.SKIPPED
        return max(found, key=lambda o: o.severity)


class Evidence(BaseModel):
    """One command that decided a check: what ran, how it ended, the end of what it printed."""

    command: str
    exit_status: int | None
    output: str = ""
    duration_s: float = 0.0


class Waiver(BaseModel):
    """Why an engineer accepted a failure, as the check carries it (section 6)."""

    reason: str
    reviewer: str
    expires: str


class Check(BaseModel):
    id: str = Field(description="stable dotted suite.check name")
    outcome: Outcome
    message: str = ""
    duration_s: float = 0.0
    required: bool = Field(True, description="advisory checks (false) never change the verdict")
    evidence: list[Evidence] = Field(default_factory=list)
    waiver: Waiver | None = None


class TargetResult(BaseModel):
    verdict: Outcome
    reason: str = Field("", description="one line: why the verdict is not passed")
    facts: dict[str, str] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    installed_artifacts: list[str] | None = Field(
        None, description="the paths of the submission's artifacts installed on this target, in the order "
        "given (an artifact this target's installers refuse is not); its certificate lists these alone. "
        "null in results written before this field, whose certificates list every artifact")


class ArtifactRef(BaseModel):
    path: str
    sha256: str
    arch: str | None = Field(None, description="the architecture the submission states for it, if any")


class SubmissionRef(BaseModel):
    name: str
    version: str
    vendor: str
    artifacts: list[ArtifactRef]


class Verdicts(BaseModel):
    schema_: int = Field(SCHEMA_VERSION, alias="schema")
    run: str
    harness: str = ""
    started: str = ""
    finished: str = ""
    interrupted: bool = False
    submission: SubmissionRef
    targets: dict[str, TargetResult]

    model_config = {"populate_by_name": True}

    def dump(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def reduce(checks: list[Check]) -> Outcome:
    """The target's verdict: the worst of its required checks; all skipped (or none) is skipped."""
    return Outcome.reduce(c.outcome for c in checks if c.required)


def reason_of(checks: list[Check], verdict: Outcome) -> str:
    if verdict == "passed":
        return ""
    first = next((c for c in checks if c.required and c.outcome == verdict), None)
    if first is None:
        return ""
    return f"{first.id}: {headline(first.message)}"


REASON_MAX = 300  # characters of the one line a table, a matrix cell and a certificate show


def headline(message: str) -> str:
    """A check's message in one line: its first, and when that one only announces what follows
    ("its log ends:", "kept failing for 5 s:"), the last line of what follows it (where the cause
    usually is), quoted: that line is the product's (its log, its output), never the lab's words,
    and reads so in any language (``its log ends: "exec: /usr/bin/tinyech: not found"``)."""
    lines = [line.strip() for line in message.strip().splitlines()]
    if not lines:
        return ""
    line = lines[0]
    if line.endswith(":"):
        block = []
        for following in lines[1:]:
            if following.endswith(":") and block:  # the next announced section
                break
            if following:
                block.append(following)
        if block:
            line = f"{line} {json.dumps(block[-1], ensure_ascii=False)}"
    return line if len(line) <= REASON_MAX else line[:REASON_MAX - 3] + "..."
