"""What the buyers' site shows of the supply chain per cell: the records that affect the install
(matched at publishing time against everything imported so far, so a record imported after the
certificate flags it without a re-run) and a link to the install's SBOM, copied into the site."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine

from lab.catalogue.models import Result
from lab.supply import osv
from lab.supply.stored import affected_results, sbom_digest, sbom_file

SHOWN = 10


def affected(engine: Engine) -> dict[int, list[osv.Finding]]:
    return affected_results(engine)


def cell_supply(result: Result, site: Path, hits: dict[int, list[osv.Finding]], slug) -> dict:
    """``affected_by`` (record, severity, component, fixed) and ``sbom``/``sbom_sha256`` of one cell."""
    found = hits.get(result.id, [])
    by_record: dict[str, osv.Finding] = {}
    for f in found:
        by_record.setdefault(f.record, f)
    flags = [{"id": f.record, "severity": f.severity, "component": f.subject.label or f.subject.name,
              "installed": f.subject.version, "fixed": f.fixed or ""} for f in list(by_record.values())[:SHOWN]]
    out = {"affected_by": flags, "sbom": None, "sbom_sha256": None}
    source = sbom_file(Path(result.run.folder), result.target)
    if source.is_file():
        rel = f"sbom/{slug(result.run.id)}/{slug(result.target)}.cdx.json"
        dest = site / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        out["sbom"], out["sbom_sha256"] = rel, sbom_digest(Path(result.run.folder), result.target)
    return out
