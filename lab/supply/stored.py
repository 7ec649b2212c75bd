"""What the catalogue keeps of an install's SBOM: its components as vulnerability records name
them, so a record imported later flags the certificates it affects without a re-run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lab.catalogue.models import COMPONENT_MAX, ECOSYSTEM_MAX, Result, ResultComponent
from lab.supply import osv

SBOM_MAX = 64 << 20


def sbom_file(run_dir: Path, target: str) -> Path:
    return Path(run_dir) / "sbom" / f"{target}.cdx.json"


def components_of(run_dir: Path, target: str) -> list[ResultComponent]:
    """The rows for one target's result, from ``DIR/sbom/<target>.cdx.json`` (none without one)."""
    path = sbom_file(run_dir, target)
    try:
        if not path.is_file() or path.stat().st_size > SBOM_MAX:
            return []
        found = subjects(path.read_text())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return []  # the lab wrote it; an unreadable one only means no later flags
    return [ResultComponent(ecosystem=e[:ECOSYSTEM_MAX], name=n[:COMPONENT_MAX], version=v[:COMPONENT_MAX],
                            label=label[:COMPONENT_MAX]) for e, n, v, label in found]


def affected_results(engine: Engine, only: set[str] | None = None) -> dict[int, list[osv.Finding]]:
    """result id -> the findings of the stored records (of ``only``) against its components."""
    with Session(engine) as s:
        rows = s.execute(select(ResultComponent.result_id, ResultComponent.ecosystem, ResultComponent.name,
                                ResultComponent.version, ResultComponent.label)
                         .join(Result, Result.id == ResultComponent.result_id)).all()
    by_subject: dict[osv.Subject, set[int]] = {}
    for rid, eco, name, version, label in rows:
        by_subject.setdefault(osv.Subject(eco, name, version, label), set()).add(rid)
    out: dict[int, list[osv.Finding]] = {}
    for f in osv.match(engine, list(by_subject), only):
        for rid in by_subject.get(f.subject, ()):
            out.setdefault(rid, []).append(f)
    return out


def sbom_digest(run_dir: Path, target: str) -> str | None:
    path = sbom_file(run_dir, target)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def subjects(text: str) -> list[tuple[str, str, str, str]]:
    """(ecosystem, name, version, label) of each component an SBOM the lab wrote lists, as
    vulnerability records name them: what the catalogue keeps per certified install."""
    doc = json.loads(text)
    out = []
    for c in doc.get("components", []):
        props = {p.get("name"): p.get("value") for p in c.get("properties", [])}
        eco = props.get("lab:osv-ecosystem")
        if not eco or not c.get("version"):
            continue
        name = props.get("lab:source-package") or c["name"]
        version = props.get("lab:source-version") or c["version"]
        label = c["name"] + (f" (source {name})" if name != c["name"] else "")
        out.append((eco, name, version, label))
    return out
