"""``lab catalogue publish``: the buyers' static site, from every recorded run.

``index.html`` is the matrix (product versions x targets, latest verdict per cell), one page per
product, ``matrix.json`` for machines, the certificates (signed JSON + HTML) and the reports
copied in, and the lab's public key to verify them with. Every vendor string is escaped.

The columns are the targets of the inventory given (in its order) that have a verdict: each says
what it stands for (its description, CPU, emulated or not, database). Verdicts recorded on targets
of another inventory are left out. A cell says which artifact architecture was tested and, when
it is not passed, why in plain words and whose fault it is.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from lab.arch import from_deb
from lab.catalogue.models import Product, ProductVersion, Result, Run
from lab.catalogue.record import artifact_arch
from lab.certs.keys import default_key_path, key_id, load_or_create, public_pem
from lab.certs.render import ENV, OPENSSL_RECIPE, PYTHON_RECIPE, certificate_html, yes_no
from lab.images.host import host_arch
from lab.results.write import write_atomic
from lab.suite import registry

FAULT = {"failed": "the product's fault", "broken": "the lab's fault, not the product's",
         "skipped": "does not apply here"}
FACTS_SHOWN = (("os_name", "OS"), ("arch", "CPU"), ("emulated", "emulated"), ("glibc", "glibc"),
               ("db_server", "database"))
REASON_IN_CELL = 220
_CHECK_PREFIX = re.compile(r"^([a-z_]+\.[A-Za-z0-9_.\[\]-]+): (.*)$", re.S)


def every_version(s: Session) -> list[ProductVersion]:
    """Every product version with its runs, results, checks and certificates, loaded at once."""
    return list(s.scalars(select(ProductVersion).options(
        selectinload(ProductVersion.product).selectinload(Product.transfers),
        selectinload(ProductVersion.runs).selectinload(Run.artifacts),
        selectinload(ProductVersion.runs).selectinload(Run.results).selectinload(Result.checks),
        selectinload(ProductVersion.runs).selectinload(Run.results).selectinload(Result.certificate))).all())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def plain_reason(reason: str) -> str:
    """``install.package: needs GLIBC_2.38`` -> ``Installing the package: needs GLIBC_2.38``."""
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    m = _CHECK_PREFIX.match(first)
    if not m:
        return first
    check, rest = m.groups()
    words = registry.title(check)
    return f"{words} ({check}): {rest}" if words else first


def _short(text: str, most: int = REASON_IN_CELL) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "\u2026"


def arch_words(arch: str | None) -> str:
    if arch in ("all", "noarch"):
        return f"any CPU ({arch})"
    if not arch:
        return "architecture not stated"
    uname = from_deb(arch)
    return uname if uname == arch else f"{uname} ({arch})"


def _formats_for(package_manager: str | None, os_family: str | None = None) -> set[str]:
    """The artifact formats a system installs: by the package manager found there, else by the OS
    family the inventory declares, else any."""
    if package_manager in ("apt", "dpkg") or (not package_manager and os_family == "debian"):
        return {"deb", "tar"}
    if package_manager in ("dnf", "yum", "rpm") or (not package_manager and os_family in ("rhel", "suse")):
        return {"rpm", "tar"}
    return {"deb", "rpm", "tar"}


def _format_of(path: str) -> str:
    name = path.lower()
    return "deb" if name.endswith(".deb") else "rpm" if name.endswith(".rpm") else "tar"


def arches_tested(result: Result, spec=None) -> list[str]:
    """The architectures of the artifacts a target installs (by its package manager, else by the
    inventory's OS family): none when no artifact suits it."""
    declared = spec.facts.os_family if spec is not None else None
    formats = _formats_for(result.facts.get("package_manager"), declared)
    arches = []
    for a in result.run.artifacts:
        if _format_of(a.path) in formats:
            word = arch_words(a.arch or artifact_arch(a.path))
            if word not in arches:
                arches.append(word)
    return arches


def facts_in_words(facts: dict) -> list[str]:
    """``CPU: x86_64``, ``emulated: no``: what a buyer reads, never ``False`` or ``None``."""
    shown = []
    for key, label in FACTS_SHOWN:
        value = yes_no(facts.get(key))
        if value:
            shown.append(f"{label}: {value}")
    return shown


def _latest_cells(version: ProductVersion, known: set[str] | None) -> dict[str, Result]:
    cells: dict[str, Result] = {}
    for run in sorted(version.runs, key=lambda r: r.finished):
        for result in run.results:
            if known is None or result.target in known:
                cells[result.target] = result
    return cells


def _copy_evidence(result: Result, site: Path) -> dict:
    run = result.run
    links = {"certificate": None, "certificate_page": None, "report": None}
    if result.certificate is not None:
        base = f"certificates/{_slug(run.id)}/{_slug(result.target)}"
        doc = result.certificate.document
        write_atomic(site / f"{base}.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        write_atomic(site / f"{base}.html", certificate_html(doc, f"{_slug(result.target)}.json", root="../../"))
        links["certificate"] = f"{base}.json"
        links["certificate_page"] = f"{base}.html"
    report = Path(run.folder) / "report" / "index.html"
    if report.exists():
        dest = site / "reports" / f"{_slug(run.id)}.html"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(report, dest)
        links["report"] = f"reports/{_slug(run.id)}.html"
    return links


def _cell(target: str, result: Result, site: Path, spec=None) -> dict:
    why = plain_reason(result.reason) if result.verdict != "passed" else ""
    arches = arches_tested(result, spec)
    return {"target": target, "verdict": result.verdict, "reason": result.reason, "run": result.run.id,
            "facts": result.facts, "facts_words": facts_in_words(result.facts),
            "why": why, "why_short": _short(why), "fault": FAULT.get(result.verdict, ""),
            "artifact_arch": ", ".join(arches),
            "failed": [c.check_id for c in result.checks if c.required and c.outcome in ("failed", "broken")],
            **_copy_evidence(result, site)}


def _column(name: str, target, results: list[Result]) -> dict:
    """What a target stands for, from the inventory; emulated as the runs found it (else as declared)."""
    seen = [r.facts.get("emulated") for r in results if r.facts.get("emulated") not in (None, "", "None")]
    declared_arch = target.facts.arch if target is not None else None
    arch = next((r.facts["arch"] for r in results if r.facts.get("arch")), declared_arch)
    if seen:
        emulated = yes_no(seen[-1])
    elif declared_arch:
        emulated = yes_no(declared_arch != host_arch())
    else:
        emulated = ""
    database = ""
    if target is not None and target.database is not None:
        db = target.database
        database = db.server + (f", standing for {', '.join(db.stands_for)}" if db.stands_for else "")
    return {"name": name, "description": target.description if target is not None else "",
            "arch": arch or "", "emulated": emulated, "database": database}


def publish(engine: Engine, site: Path, lab_name: str, signing_key: Path | None = None,
            targets: Sequence | None = None) -> Path:
    """Render the site into ``site``. ``targets`` (the inventory's ``Target`` list) gives the columns
    and what each stands for; without it every recorded target is a column, described by nothing."""
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    inventory = {t.name: t for t in targets} if targets is not None else None
    known = set(inventory) if inventory is not None else None
    with Session(engine) as s:
        versions = every_version(s)
        by_target: dict[str, list[Result]] = {}
        rows, products = [], {}
        for version in sorted(versions, key=lambda v: (v.product.name, v.version)):
            latest = _latest_cells(version, known)
            if not latest:
                continue  # tested only on targets this inventory does not have
            cells = {}
            for target, result in sorted(latest.items()):
                by_target.setdefault(target, []).append(result)
                cells[target] = _cell(target, result, site, (inventory or {}).get(target))
            product = version.product
            row = {"name": product.name, "slug": _slug(product.name), "vendor": product.vendor,
                   "version": version.version, "cells": cells,
                   "verdicts": sorted({c["verdict"] for c in cells.values()})}
            rows.append(row)
            page = products.setdefault(product.name, {
                "product": product, "slug": row["slug"], "versions": [],
                "transfers": [{"from": t.from_vendor, "to": t.to_vendor, "at": t.at, "by": t.by}
                              for t in product.transfers]})
            page["versions"].append({"version": version.version, "cells": list(cells.values())})
        names = [n for n in inventory if n in by_target] if inventory is not None else sorted(by_target)
        columns = [_column(n, (inventory or {}).get(n), sorted(by_target[n], key=lambda r: r.run.finished))
                   for n in names]
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    common = {"lab": lab_name, "generated": generated}
    write_atomic(site / "index.html", ENV.get_template("matrix.html.j2").render(
        columns=columns, rows=rows, root="", **common))
    for page in products.values():
        write_atomic(site / "products" / f"{page['slug']}.html", ENV.get_template("product.html.j2").render(
            product=page["product"], versions=page["versions"], transfers=page["transfers"], root="../", **common))
    write_atomic(site / "matrix.json", json.dumps({
        "schema": 1, **common, "targets": names,
        "columns": {c["name"]: {k: c[k] for k in ("description", "arch", "emulated", "database")} for c in columns},
        "products": [{k: row[k] for k in ("name", "vendor", "version")} |
                     {"results": {t: {k: c[k] for k in ("verdict", "reason", "fault", "artifact_arch", "run",
                                                        "certificate", "certificate_page", "report")}
                                  for t, c in row["cells"].items()}} for row in rows]}, indent=2, ensure_ascii=False))
    key = load_or_create(signing_key or default_key_path()).public_key()
    (site / "keys").mkdir(exist_ok=True)
    pem = public_pem(key)
    (site / "keys" / "lab-signing-key.pub.pem").write_bytes(pem)
    write_atomic(site / "keys" / "index.html", ENV.get_template("keys.html.j2").render(
        key_id=key_id(key), pem=pem.decode(), openssl=OPENSSL_RECIPE, python=PYTHON_RECIPE, root="../", **common))
    return site / "index.html"
