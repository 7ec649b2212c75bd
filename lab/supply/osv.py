"""Vulnerability records in the OSV format: read, checked, imported into the lab's database, matched.

The lab has no internet: an engineer downloads OSV's exports (``<ecosystem>/all.zip``, or single
records) elsewhere and imports them with ``lab vulns import``. A batch is all or nothing: every
record of every file is checked first, and one malformed record refuses the whole batch (exit 2,
naming each file and field), so the database never holds half an export. A record imported again
replaces the stored one.

Example::

    records = read_paths([Path("Debian-12.zip")])       # InputError naming file and field
    imported = import_records(engine, records)           # thousands a second (bulk insert)
    findings = match(engine, [Subject("Debian:12", "curl", "7.88.1-10+deb12u4", "libcurl4 ...")])
"""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from lab.catalogue.models import COMPONENT_MAX, ECOSYSTEM_MAX, VULN_ID_MAX, Vulnerability, VulnerablePackage
from lab.errors import InfrastructureError, InputError
from lab.supply.versions import affected, ecosystem_matches, normal_name
from lab.validation import problems_of

FILE_MAX = 16 << 20          # one record file (or zip member)
ZIP_MEMBERS_MAX = 1_000_000
BATCH_MAX = 1 << 30          # all the record files of one import together (OSV's largest export is far below)
PROBLEMS_SHOWN = 50
LEVELS = ["low", "medium", "high", "critical"]
WORDS = {"low": "low", "negligible": "low", "unimportant": "low", "moderate": "medium", "medium": "medium",
         "important": "high", "high": "high", "critical": "critical"}
CHUNK = 500


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OSV grows; what the lab does not use is not judged


class Event(_Loose):
    introduced: str | None = Field(None, max_length=COMPONENT_MAX)
    fixed: str | None = Field(None, max_length=COMPONENT_MAX)
    last_affected: str | None = Field(None, max_length=COMPONENT_MAX)
    limit: str | None = Field(None, max_length=COMPONENT_MAX)

    @model_validator(mode="after")
    def _one(self) -> Event:
        if sum(v is not None for v in (self.introduced, self.fixed, self.last_affected, self.limit)) != 1:
            raise ValueError("an event has exactly one of introduced, fixed, last_affected, limit")
        return self


class Range(_Loose):
    type: str = Field(max_length=40)
    events: list[Event] = Field(min_length=1)


class Package(_Loose):
    ecosystem: str = Field(min_length=1, max_length=ECOSYSTEM_MAX)
    name: str = Field(min_length=1, max_length=COMPONENT_MAX)


class Affected(_Loose):
    package: Package
    ranges: list[Range] = Field(default_factory=list)
    versions: list[str] = Field(default_factory=list)
    ecosystem_specific: dict | None = None
    database_specific: dict | None = None


class Severity(_Loose):
    type: str = Field(max_length=40)
    score: str = Field(max_length=400)


class Record(_Loose):
    id: str = Field(min_length=1, max_length=VULN_ID_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
    modified: datetime
    summary: str = ""
    aliases: list[str] = Field(default_factory=list)
    severity: list[Severity] = Field(default_factory=list)
    affected: list[Affected] = Field(default_factory=list)
    database_specific: dict | None = None
    withdrawn: datetime | None = None

    def level(self) -> str:
        """low | medium | high | critical | unknown: the record's own word (GitHub's
        ``database_specific.severity``, Debian's urgency), else its CVSS v3 vector's base score."""
        words = [self.database_specific] + [a.database_specific for a in self.affected] + \
                [a.ecosystem_specific for a in self.affected]
        for d in words:
            if isinstance(d, dict):
                for key in ("severity", "urgency"):
                    value = d.get(key)
                    if isinstance(value, str) and value.lower() in WORDS:
                        return WORDS[value.lower()]
        for s in self.severity:
            score = cvss3_score(s.score) if s.score.startswith("CVSS:3") else _number(s.score)
            if score is not None:
                return rating(score)
        return "unknown"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 10 else None


def rating(score: float) -> str:
    return "critical" if score >= 9 else "high" if score >= 7 else "medium" if score >= 4 else "low"


_CVSS = {"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}, "AC": {"L": 0.77, "H": 0.44},
         "UI": {"N": 0.85, "R": 0.62}, "C": {"H": 0.56, "L": 0.22, "N": 0}}


def cvss3_score(vector: str) -> float | None:
    """The CVSS 3.x base score of a vector (FIRST's formulas), or None when it is not one."""
    m = dict(p.split(":", 1) for p in vector.split("/")[1:] if ":" in p)
    try:
        changed = m["S"] == "C"
        pr = {"N": 0.85, "L": 0.68 if changed else 0.62, "H": 0.5 if changed else 0.27}[m["PR"]]
        c, i, a = (_CVSS["C"][m[k]] for k in ("C", "I", "A"))
        iss = 1 - (1 - c) * (1 - i) * (1 - a)
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
        exploit = 8.22 * _CVSS["AV"][m["AV"]] * _CVSS["AC"][m["AC"]] * pr * _CVSS["UI"][m["UI"]]
    except KeyError:
        return None
    if impact <= 0:
        return 0.0
    total = min((1.08 if changed else 1) * (impact + exploit), 10)
    return math.ceil(round(total * 100000) / 10000) / 10


def at_or_above(level: str, threshold: str) -> bool:
    return level in LEVELS and LEVELS.index(level) >= LEVELS.index(threshold)


# -- reading -----------------------------------------------------------------------------------------
def _documents(path: Path) -> Iterable[tuple[str, bytes]]:
    """(name for messages, bytes) of each record file under ``path``."""
    if path.is_dir():
        for f in sorted(path.rglob("*.json")):
            if f.is_file():
                yield from _documents(f)
        return
    if not path.exists():
        raise InputError(str(path), ["no such file or folder"])
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                infos = [i for i in z.infolist() if i.filename.endswith(".json") and not i.is_dir()]
                if len(infos) > ZIP_MEMBERS_MAX:
                    raise InputError(str(path), [f"more than {ZIP_MEMBERS_MAX} records"])
                for info in infos:
                    if info.file_size > FILE_MAX:
                        raise InputError(f"{path}!{info.filename}", [f"larger than {FILE_MAX >> 20} MiB"])
                    yield f"{path}!{info.filename}", z.read(info)  # zipfile reads no more than file_size
        except (zipfile.BadZipFile, OSError, NotImplementedError, zlib.error, RuntimeError, EOFError) as exc:
            # RuntimeError: an encrypted member; zlib.error: a corrupt deflate stream
            raise InputError(str(path), [f"not a readable .zip: {exc}"]) from None
        return
    if path.stat().st_size > FILE_MAX:
        raise InputError(str(path), [f"larger than {FILE_MAX >> 20} MiB"])
    yield str(path), path.read_bytes()


def read_paths(paths: list[Path]) -> list[tuple[str, Record]]:
    """Every record under ``paths``, checked; ``InputError`` naming each bad file and field (all at once)."""
    records: list[tuple[str, Record]] = []
    problems: list[str] = []
    total = 0
    for path in paths:
        for name, data in _documents(Path(path)):
            total += len(data)
            if total > BATCH_MAX:  # a zip of a million 16 MiB members would otherwise fill the controller
                raise InputError(name, [f"the record files of one import add up to more than {BATCH_MAX >> 20} MiB: "
                                        "import them in several batches; nothing was imported"])
            if data.lstrip()[:1] == b"{":
                try:  # the common case, parsed and checked in one pass by pydantic's core
                    records.append((name, Record.model_validate_json(data)))
                    continue
                except ValidationError:
                    pass  # said again below, with the JSON error or the fields named
            try:
                doc = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{name}: not JSON: {exc}")
                continue
            except RecursionError:  # [[[[...]]]]: no OSV record nests that deep
                problems.append(f"{name}: not an OSV record: nested too deeply to read")
                continue
            docs = doc if isinstance(doc, list) else [doc]  # some exports hold a list of records
            for i, d in enumerate(docs):
                where = name if len(docs) == 1 else f"{name}[{i}]"
                try:
                    records.append((name, Record.model_validate(d)))
                except ValidationError as exc:
                    problems += [f"{where}: {p}" for p in problems_of(exc)]
                except RecursionError:
                    problems.append(f"{where}: not an OSV record: nested too deeply to read")
    if problems:
        more = f" ({len(problems)} in all, the first {PROBLEMS_SHOWN} shown)" if len(problems) > PROBLEMS_SHOWN else ""
        # said in the source, not as one more problem: "2 error(s)" for one bad record misleads
        raise InputError("vulnerability records (nothing was imported: correct or remove the records named and "
                         f"import again){more}", problems[:PROBLEMS_SHOWN])
    return records


# -- storing -----------------------------------------------------------------------------------------
def import_records(engine: Engine, records: list[tuple[str, Record]], now: datetime | None = None) -> list[str]:
    """Store ``records`` in one transaction (bulk inserts); the ids imported. Withdrawn records are
    removed instead, as OSV means."""
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    latest: dict[str, tuple[str, Record]] = {}
    for source, r in records:
        if r.id not in latest or r.modified >= latest[r.id][1].modified:
            latest[r.id] = (source, r)
    ids = list(latest)
    rows, packages = [], []
    for rid, (source, r) in latest.items():
        if r.withdrawn is not None:
            continue
        rows.append({"id": rid, "modified": r.modified.isoformat(), "summary": r.summary[:2000],
                     "severity": r.level(), "aliases": r.aliases[:50], "imported": at, "source": source[:1000]})
        for a in r.affected:
            packages.append({"vulnerability_id": rid, "ecosystem": a.package.ecosystem,
                             "name": normal_name(a.package.ecosystem, a.package.name),
                             "ranges": [x.model_dump(exclude_none=True) for x in a.ranges],
                             "versions": a.versions})
    try:
        with Session(engine) as s, s.begin():
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i:i + CHUNK]
                s.execute(delete(VulnerablePackage).where(VulnerablePackage.vulnerability_id.in_(chunk)))
                s.execute(delete(Vulnerability).where(Vulnerability.id.in_(chunk)))
            if rows:
                s.execute(insert(Vulnerability), rows)
            if packages:
                s.execute(insert(VulnerablePackage), packages)
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the catalogue refused the vulnerability records: {exc}") from None
    return [r["id"] for r in rows]


# -- matching ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """A component as records name it: Debian's by source package and version."""

    ecosystem: str
    name: str
    version: str
    label: str = ""  # how a reader knows it: "libcurl4 (source curl)"


@dataclass(frozen=True)
class Finding:
    record: str
    severity: str
    subject: Subject
    fixed: str | None
    summary: str = ""
    imported: str = ""

    def line(self) -> str:
        fix = f"fixed in {self.fixed}" if self.fixed else "no fixed version known"
        return (f"{self.record} ({self.severity}): {self.subject.label or self.subject.name} "
                f"installed {self.subject.version}, {fix}" + (f": {self.summary[:160]}" if self.summary else ""))


def match(engine: Engine, subjects: list[Subject], only: set[str] | None = None) -> list[Finding]:
    """The records (of ``only``, when given) that affect each subject, in its ecosystem's ordering."""
    by_name: dict[str, list[Subject]] = {}
    for sub in subjects:
        by_name.setdefault(normal_name(sub.ecosystem, sub.name), []).append(sub)
    found: list[Finding] = []
    names = list(by_name)
    with Session(engine) as s:
        for i in range(0, len(names), CHUNK):
            q = (select(VulnerablePackage, Vulnerability).join(Vulnerability)
                 .where(VulnerablePackage.name.in_(names[i:i + CHUNK])))
            if only is not None:
                q = q.where(Vulnerability.id.in_(only))
            for pkg, vuln in s.execute(q):
                for sub in by_name.get(pkg.name, []):
                    if not ecosystem_matches(pkg.ecosystem, sub.ecosystem):
                        continue
                    hit, fixed = affected(pkg.ranges, pkg.versions, sub.ecosystem, sub.version)
                    if hit:
                        found.append(Finding(vuln.id, vuln.severity, sub, fixed, vuln.summary, vuln.imported))
    unique = {(f.record, f.subject): f for f in found}
    return sorted(unique.values(), key=lambda f: (-LEVELS.index(f.severity) if f.severity in LEVELS else 1,
                                                  f.record, f.subject.name))


def count(engine: Engine) -> int:
    from sqlalchemy import func

    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Vulnerability)) or 0


def id_like(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:+-]*", text))
