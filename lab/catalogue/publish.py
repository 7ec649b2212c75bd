"""``lab catalogue publish``: the buyers' static site, from every recorded run.

``index.html`` is the matrix (product versions x targets, latest verdict per cell), one page per
product, ``matrix.json`` for machines, the certificates (signed JSON + HTML) and the reports
copied in, and the lab's public key to verify them with. Every vendor string is escaped.

The columns are the targets of the inventory given (in its order) that have a verdict: each says
what it stands for (its description, CPU, emulated or not, database). Verdicts recorded on targets
of another inventory are left out. A cell says which artifact architecture was tested and, when
it is not passed, why in plain words and whose fault it is.

Every page is written in each of the inventory's ``[lab] languages``: the first (the default) under
the plain name (``index.html``, ``products/acme-calc.html``), each other one beside it with the
language before the extension (``index.en.html``, ``products/acme-calc.en.html``); every page links
to its own translations and its links stay in its language. ``matrix.json``, the signed
certificates and the reports are one file for all languages (the lab's words in ``matrix.json``
are English, for machines). The lab's words are translated when a page is rendered (the
template filters below); a vendor's words are shown as they are.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from lab import i18n, reasons
from lab.arch import from_deb
from lab.catalogue.lifecycle import cell_life, latest
from lab.catalogue.models import Product, ProductVersion, Result, Run
from lab.catalogue.record import artifact_arch
from lab.certs.keys import default_key_path, key_id, load_or_create, public_pem
from lab.certs.render import ENV, OPENSSL_RECIPE, PYTHON_RECIPE, certificate_pages, yes_no
from lab.i18n import N_, gettext
from lab.images.host import host_arch
from lab.results.write import write_atomic
from lab.suite import registry
from lab.text import slug_of

FAULT = {"failed": N_("the product's fault"), "broken": N_("the lab's fault, not the product's"),
         "skipped": N_("does not apply here")}
FACTS_SHOWN = (("os_name", N_("OS")), ("arch", N_("CPU")), ("emulated", N_("emulated")), ("glibc", N_("glibc")),
               ("db_server", N_("database")))
DEFAULT_LANGUAGES = ("zh-CN", "en")
REASON_IN_CELL = 220
# What matrix.json tells of each result: the portal's (lab.centre.buyers) and the static site's.
RESULT_KEYS = ("verdict", "reason", "fault", "artifact_arch", "run", "certificate", "certificate_page", "report")
SITE_RESULT_KEYS = (*RESULT_KEYS, "waived", "certificate_expires", "certificate_expired", "change", "history",
                    "affected_by", "sbom", "sbom_sha256")
_CHECK_PREFIX = re.compile(r"^([a-z_]+\.[A-Za-z0-9_.\[\]-]+): (.*)$", re.S)
_ADVICE = re.compile(r"[:;,]? *\(?run `[^`]*`\)?")  # "...: run `lab images build X --inventory /home/...`"


def every_version(s: Session) -> list[ProductVersion]:
    """Every product version with its runs, results, checks and certificates, loaded at once."""
    return list(s.scalars(select(ProductVersion).options(
        selectinload(ProductVersion.product).selectinload(Product.transfers),
        selectinload(ProductVersion.runs).selectinload(Run.artifacts),
        selectinload(ProductVersion.runs).selectinload(Run.results).selectinload(Result.checks),
        selectinload(ProductVersion.runs).selectinload(Run.results).selectinload(Result.certificate))).all())


def plain_reason(reason: str) -> str:
    """``install.package: needs GLIBC_2.38`` -> ``Installing the package (install.package): needs
    GLIBC_2.38``: the check's title in the language being rendered, the tool's words as they are."""
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    first = _ADVICE.sub("", first)  # an engineer's command, with the engineer's paths: not for buyers
    m = _CHECK_PREFIX.match(first)
    if not m:
        return first
    check, rest = m.groups()
    words = i18n.check_title(check) if registry.title(check) else ""
    said = i18n.words(rest, among=reasons.BY_CHECK.get(check, ()),
                      own_word=lambda inner: i18n.words(inner, among=reasons.INNER))
    return f"{words} ({check}): {said}" if words else first


def _short(text: str, most: int = REASON_IN_CELL) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "\u2026"


def arch_words(arch: str | None) -> str:
    if arch in ("all", "noarch"):
        return gettext("any CPU (%(arch)s)") % {"arch": arch}
    if not arch:
        return gettext("architecture not stated")
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
    inventory's OS family), in words: none when no artifact suits it."""
    return list(dict.fromkeys(arch_words(a) for a in artifact_arches(result, spec)))


def artifact_arches(result: Result, spec=None) -> list[str | None]:
    """The architectures (Debian's or RPM's names) of the artifacts a target installs."""
    declared = spec.facts.os_family if spec is not None else None
    formats = _formats_for(result.facts.get("package_manager"), declared)
    return list(dict.fromkeys(a.arch or artifact_arch(a.path) for a in result.run.artifacts
                              if _format_of(a.path) in formats))


def facts_in_words(facts: dict) -> list[str]:
    """``CPU: x86_64``, ``emulated: no``: what a buyer reads (in the language being rendered),
    never ``False`` or ``None``."""
    shown = []
    for key, label in FACTS_SHOWN:
        value = i18n.yes_no(facts.get(key))
        if value:
            shown.append(f"{gettext(label)}: {value}")
    return shown


def fault_words(verdict: str | None) -> str:
    """Whose fault a verdict is, in the language being rendered."""
    return gettext(FAULT[verdict]) if verdict in FAULT else ""


def install_filters(env) -> None:
    """The catalogue's words for its templates, translated when a page is rendered (a cell holds
    the lab's data; these turn it into a buyer's words in the page's language)."""
    env.filters["plain_reason"] = plain_reason
    env.filters["short"] = _short
    env.filters["arch_words"] = lambda arches: ", ".join(dict.fromkeys(arch_words(a) for a in arches or []))
    env.filters["facts_words"] = facts_in_words
    env.filters["fault"] = fault_words
    env.filters["yes_no"] = i18n.yes_no


install_filters(ENV)


def localised(url: str, lang: str, default: str) -> str:
    """A page's name in ``lang``: ``index.html`` -> ``index.en.html`` (the default: as it is)."""
    if lang == default or not url.endswith(".html"):
        return url
    return f"{url[:-5]}.{lang}.html"


def _write_page(site: Path, path: str, template: str, languages: Sequence[str], **context) -> None:
    """``path`` (from the site's top) in every language, each linking to the others."""
    default = languages[0]
    name = path.rsplit("/", 1)[-1]
    switch = {lang: localised(name, lang, default) for lang in languages} if len(languages) > 1 else None
    for lang in languages:
        def link(url: str, lang: str = lang) -> str:
            return localised(url, lang, default)
        write_atomic(site / localised(path, lang, default),
                     i18n.render(ENV, template, lang, switch=switch, link=link, **context))


def _copied(source: Path, site: Path, relative: str) -> str | None:
    """``relative`` on the site, a copy of ``source`` (once: a run's file never changes); None when
    there is no such file."""
    if not source.is_file() or source.is_symlink():
        return None
    dest = site / relative
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    return relative


def _copy_evidence(result: Result, site: Path, languages: Sequence[str] = DEFAULT_LANGUAGES) -> dict:
    run = result.run
    links = {"certificate": None, "certificate_page": None, "report": None, "report_pdf": None}
    if result.certificate is not None:
        base = f"certificates/{slug_of(run.id)}/{slug_of(result.target)}"
        doc = result.certificate.document
        write_atomic(site / f"{base}.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        for lang, page in certificate_pages(doc, f"{slug_of(result.target)}.json", "../../", languages).items():
            write_atomic(site / localised(f"{base}.html", lang, languages[0]), page)
        links["certificate"] = f"{base}.json"
        links["certificate_page"] = f"{base}.html"
    links["report"] = _copied(Path(run.folder) / "report" / "index.html", site, f"reports/{slug_of(run.id)}.html")
    # the report people file, in the lab's first language, beside Allure's
    links["report_pdf"] = _copied(Path(run.folder) / "report" / "report.pdf", site, f"reports/{slug_of(run.id)}.pdf")
    from lab.desktop.evidence import publish_screenshots  # a desktop application's windows

    links["screenshots"] = publish_screenshots(Path(run.folder), result.target, site,
                                               f"screenshots/{slug_of(run.id)}/{slug_of(result.target)}")
    return links


def cell_data(target: str, result: Result, spec=None) -> dict:
    """A cell's data, without its links (English where it is the lab's words: ``matrix.json`` has
    them); the pages put the lab's words in their language with the filters above, from
    ``reason``, ``verdict``, ``arches`` and ``facts``. ``spec``: the inventory's target."""
    why = plain_reason(result.reason) if result.verdict != "passed" else ""
    arches = artifact_arches(result, spec)
    return {"target": target, "verdict": result.verdict, "reason": result.reason, "run": result.run.id,
            "facts": result.facts, "facts_words": facts_in_words(result.facts),
            "why": why, "why_short": _short(why), "fault": FAULT.get(result.verdict, ""),
            "arches": arches, "artifact_arch": ", ".join(dict.fromkeys(arch_words(a) for a in arches)),
            "failed": [c.check_id for c in result.checks if c.required and c.outcome in ("failed", "broken")]}


def _cell(target: str, result: Result, site: Path, spec=None, languages: Sequence[str] = DEFAULT_LANGUAGES) -> dict:
    """A cell of the site: its data, its evidence copied into the site and linked, its life."""
    return {**cell_data(target, result, spec), **_copy_evidence(result, site, languages), **cell_life(result)}


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
    database, server, stands_for = "", "", []
    if target is not None and target.database is not None:
        db = target.database
        server, stands_for = db.server, list(db.stands_for)
        database = db.server + (f", standing for {', '.join(db.stands_for)}" if db.stands_for else "")
    return {"name": name, "description": target.description if target is not None else "",
            "arch": arch or "", "emulated": emulated, "database": database,
            "db_server": server, "stands_for": stands_for}


def matrix(versions: Sequence[ProductVersion], inventory: dict | None,
           cell: Callable[[str, Result, object], dict]) -> tuple[list[dict], list[dict], dict[str, dict]]:
    """The catalogue as its matrix shows it: ``(columns, rows, pages)``, built one way for the
    static site (``publish``) and the portal (``lab.centre.buyers``), which differ only in their
    cells' links. ``inventory`` (target name -> ``Target``) gives the columns, in its order, and
    what each stands for; None: every recorded target, described by nothing. A row per product
    version with a verdict on a column, each cell made by ``cell(target, result, spec)`` from the
    latest result; ``pages``, per product name, what the product's page lists."""
    known = set(inventory) if inventory is not None else None
    by_target: dict[str, list[Result]] = {}
    rows, pages = [], {}
    for version in sorted(versions, key=lambda v: (v.product.name, v.version)):
        newest = latest((x for run in version.runs for x in run.results), known)
        if not newest:
            continue  # tested only on targets this inventory does not have
        cells = {}
        for target, result in sorted(newest.items()):
            by_target.setdefault(target, []).append(result)
            cells[target] = cell(target, result, (inventory or {}).get(target))
        product = version.product
        row = {"name": product.name, "slug": slug_of(product.name), "vendor": product.vendor,
               "version": version.version, "cells": cells,
               "verdicts": sorted({c["verdict"] for c in cells.values()})}
        rows.append(row)
        page = pages.setdefault(product.name, {
            "product": product, "slug": row["slug"], "versions": [],
            "transfers": [{"from": t.from_vendor, "to": t.to_vendor, "at": t.at, "by": t.by}
                          for t in product.transfers if t.from_vendor]})  # a name given before any run: none
        page["versions"].append({"version": version.version, "cells": list(cells.values())})
    names = [n for n in inventory if n in by_target] if inventory is not None else sorted(by_target)
    columns = [_column(n, (inventory or {}).get(n), sorted(by_target[n], key=lambda r: r.made))
               for n in names]
    return columns, rows, pages


def matrix_for_machines(columns: list[dict], rows: list[dict], keys: Sequence[str], **common) -> dict:
    """``matrix.json`` from ``matrix``'s columns and rows: for machines, the lab's words in English;
    ``keys``: what each result tells; ``common``: the lab's name and when it was generated."""
    return {"schema": 1, **common, "targets": [c["name"] for c in columns],
            "columns": {c["name"]: {k: c[k] for k in ("description", "arch", "emulated", "database")} for c in columns},
            "products": [{k: row[k] for k in ("name", "vendor", "version")}
                         | {"results": {t: {k: c[k] for k in keys} for t, c in row["cells"].items()}}
                         for row in rows]}


def publish(engine: Engine, site: Path, lab_name: str, signing_key: Path | None = None,
            targets: Sequence | None = None, languages: Sequence[str] = DEFAULT_LANGUAGES) -> Path:
    """Render the site into ``site``. ``targets`` (the inventory's ``Target`` list) gives the columns
    and what each stands for; without it every recorded target is a column, described by nothing.
    ``languages``: the inventory's ``[lab] languages``, the first one under the plain names."""
    languages = list(dict.fromkeys(languages)) or list(DEFAULT_LANGUAGES)
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    inventory = {t.name: t for t in targets} if targets is not None else None
    from lab.supply.published import affected, cell_supply

    hits = affected(engine)  # every imported record against every recorded install's components
    with Session(engine) as s:
        def cell(target: str, result: Result, spec) -> dict:
            return {**_cell(target, result, site, spec, languages), **cell_supply(result, site, hits, slug_of)}

        columns, rows, pages = matrix(every_version(s), inventory, cell)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    common = {"lab": lab_name, "generated": generated}
    _write_page(site, "index.html", "matrix.html.j2", languages, columns=columns, rows=rows, root="", **common)
    for page in pages.values():
        _write_page(site, f"products/{page['slug']}.html", "product.html.j2", languages, product=page["product"],
                    versions=page["versions"], transfers=page["transfers"], root="../", **common)
    write_atomic(site / "matrix.json", json.dumps(matrix_for_machines(columns, rows, SITE_RESULT_KEYS, **common),
                                                  indent=2, ensure_ascii=False))
    key = load_or_create(signing_key or default_key_path()).public_key()
    (site / "keys").mkdir(exist_ok=True)
    pem = public_pem(key)
    (site / "keys" / "lab-signing-key.pub.pem").write_bytes(pem)
    _write_page(site, "keys/index.html", "keys.html.j2", languages, key_id=key_id(key), pem=pem.decode(),
                openssl=OPENSSL_RECIPE, python=PYTHON_RECIPE, root="../", **common)
    return site / "index.html"
