"""``lab catalogue publish``: the buyers' static site, from every recorded run.

``index.html`` is the matrix (product versions x targets, latest verdict per cell), one page per
product, ``matrix.json`` for machines, the certificates (signed JSON + HTML) and the reports
copied in, and the lab's public key to verify them with. Every vendor string is escaped.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from lab.catalogue.models import ProductVersion, Result, Run
from lab.certs.keys import default_key_path, key_id, load_or_create, public_pem
from lab.certs.render import ENV, certificate_html
from lab.results.write import write_atomic


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _latest_cells(version: ProductVersion) -> dict[str, Result]:
    cells: dict[str, Result] = {}
    for run in sorted(version.runs, key=lambda r: r.finished):
        for result in run.results:
            cells[result.target] = result
    return cells


def _copy_evidence(result: Result, site: Path) -> dict:
    run = result.run
    links = {"certificate": None, "report": None}
    if result.certificate is not None:
        base = f"certificates/{_slug(run.id)}/{_slug(result.target)}"
        doc = result.certificate.document
        write_atomic(site / f"{base}.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        write_atomic(site / f"{base}.html", certificate_html(doc, f"{_slug(result.target)}.json", root="../../"))
        links["certificate"] = f"{base}.html"
    report = Path(run.folder) / "report" / "index.html"
    if report.exists():
        dest = site / "reports" / f"{_slug(run.id)}.html"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(report, dest)
        links["report"] = f"reports/{_slug(run.id)}.html"
    return links


def publish(engine: Engine, site: Path, lab_name: str, signing_key: Path | None = None) -> Path:
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    with Session(engine) as s:
        versions = s.scalars(select(ProductVersion).options(
            selectinload(ProductVersion.product),
            selectinload(ProductVersion.runs).selectinload(Run.results).selectinload(Result.checks))).all()
        targets: set[str] = set()
        rows, products = [], {}
        for version in sorted(versions, key=lambda v: (v.product.name, v.version)):
            cells = {}
            for target, result in sorted(_latest_cells(version).items()):
                targets.add(target)
                cells[target] = {"target": target, "verdict": result.verdict, "reason": result.reason,
                                 "run": result.run.id, "facts": result.facts,
                                 "failed": [c.check_id for c in result.checks
                                            if c.required and c.outcome in ("failed", "broken")],
                                 **_copy_evidence(result, site)}
            row = {"name": version.product.name, "vendor": version.product.vendor, "version": version.version,
                   "cells": cells, "verdicts": sorted({c["verdict"] for c in cells.values()})}
            rows.append(row)
            products.setdefault(version.product.name, {"product": version.product, "versions": []})["versions"].append(
                {"version": version.version, "cells": list(cells.values())})
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    columns = sorted(targets)
    common = {"lab": lab_name, "generated": generated}
    write_atomic(site / "index.html", ENV.get_template("matrix.html.j2").render(
        targets=columns, rows=rows, root="", **common))
    for name, page in products.items():
        write_atomic(site / "products" / f"{name}.html", ENV.get_template("product.html.j2").render(
            product=page["product"], versions=page["versions"], root="../", **common))
    write_atomic(site / "matrix.json", json.dumps({
        "schema": 1, **common, "targets": columns,
        "products": [{k: row[k] for k in ("name", "vendor", "version")} |
                     {"results": {t: {k: c[k] for k in ("verdict", "reason", "run", "certificate", "report")}
                                  for t, c in row["cells"].items()}} for row in rows]}, indent=2))
    key = load_or_create(signing_key or default_key_path()).public_key()
    (site / "keys").mkdir(exist_ok=True)
    (site / "keys" / "lab-signing-key.pub.pem").write_bytes(public_pem(key))
    write_atomic(site / "keys" / "index.html", ENV.get_template("keys.html.j2").render(
        key_id=key_id(key), root="../", **common))
    return site / "index.html"
