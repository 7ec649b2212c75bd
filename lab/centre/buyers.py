"""The buyers' side of the portal, without an account: the published catalogue from the database.

``/`` (and ``/index.html``) the matrix, ``/products/<name>.html``, ``/certificates/<run>/<target>.html``
and ``.json``, ``/reports/<run>.html``, ``/matrix.json`` and ``/keys/``: the pages, links and
``matrix.json`` that ``lab catalogue publish`` writes as files, built the same way (its helpers),
but only from what engineers have published (``lab.centre.review.publish`` records it).

Every page comes in each of ``[lab] languages``: ``?lang=en`` asks for one (the switch on every
page links there, and a cookie remembers the choice), else the first one is served. Links within a
page keep its language. ``matrix.json`` is one document for all (the lab's words in English).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from lab.catalogue.models import Certificate, Result, Run
from lab.catalogue.publish import RESULT_KEYS, cell_data, every_version, matrix, matrix_for_machines, slug_of
from lab.centre.context import centre_of
from lab.centre.pages import REPORT_HEADERS, quoted, render
from lab.certs.keys import key_id, key_path, load_or_create, public_pem
from lab.certs.render import OPENSSL_RECIPE, PYTHON_RECIPE
from lab.i18n import N_
from lab.wording import Wording

router = APIRouter(include_in_schema=False)

# What a buyer is told when a page is not in the published catalogue (in the page's language: they
# are wordings, which lab.centre.pages translates)
NO_SUCH_PRODUCT = Wording(N_("no such product in the published catalogue"))
NO_SUCH_CERTIFICATE = Wording(N_("no such certificate in the published catalogue"))
NO_SUCH_REPORT = Wording(N_("no report for this run in the published catalogue"))


def _cell(target: str, result: Result, spec=None) -> dict:
    """A matrix cell, as ``lab catalogue publish`` makes it (``spec``: the inventory's target), its
    links to the portal's pages."""
    run = result.run
    base = f"certificates/{quoted(run.id)}/{quoted(target)}"
    has_cert = result.certificate is not None
    has_report = (Path(run.folder) / "report" / "index.html").is_file()
    has_pdf = (Path(run.folder) / "report" / "report.pdf").is_file()
    return {**cell_data(target, result, spec),
            "certificate": f"{base}.json" if has_cert else None,
            "certificate_page": f"{base}.html" if has_cert else None,
            "report": f"reports/{quoted(run.id)}.html" if has_report else None,
            "report_pdf": f"reports/{quoted(run.id)}.pdf" if has_pdf else None}


def published_matrix(centre) -> tuple[list[dict], list[dict], dict]:
    """(columns, rows, products) of the published catalogue, like ``lab.catalogue.publish``;
    products by their page's name (``products/<slug>.html``)."""
    inventory = {t.name: t for t in centre.inventory.model.targets}
    with Session(centre.engine) as s:
        columns, rows, pages = matrix(every_version(s), inventory, _cell)
        products = {page["slug"]: {"product": {"name": page["product"].name, "vendor": page["product"].vendor},
                                    "versions": page["versions"], "transfers": page["transfers"]}
                    for page in pages.values()}
    return columns, rows, products


def matrix_document(centre) -> dict:
    """``matrix.json``, in the shape ``lab catalogue publish`` writes it (links relative to ``/``)."""
    columns, rows, _ = published_matrix(centre)
    return matrix_for_machines(columns, rows, RESULT_KEYS, lab=centre.inventory.model.lab.name, generated=_now_iso())


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@router.get("/", response_class=HTMLResponse)
@router.get("/index.html", response_class=HTMLResponse)
def matrix_page(request: Request):
    columns, rows, _ = published_matrix(centre_of(request))
    return render(request, "matrix.html.j2", columns=columns, rows=rows, root="", generated=_now_iso())


@router.get("/matrix.json")
def matrix_json(request: Request):
    return JSONResponse(matrix_document(centre_of(request)))


@router.get("/products/{slug}.html", response_class=HTMLResponse)
def product_page(request: Request, slug: str):
    _, _, products = published_matrix(centre_of(request))
    page = products.get(slug)
    if page is None:
        raise HTTPException(404, NO_SUCH_PRODUCT)
    return render(request, "product.html.j2", product=page["product"], versions=page["versions"],
                  transfers=page["transfers"], root="../", generated=_now_iso())


def _published_certificate(request: Request, run: str, target: str) -> dict:
    with Session(centre_of(request).engine) as s:
        row = s.get(Certificate, f"{run}/{target}")
        if row is None:
            raise HTTPException(404, NO_SUCH_CERTIFICATE)
        return row.document


@router.get("/certificates/{run}/{target}.json")
def certificate_json(request: Request, run: str, target: str):
    return JSONResponse(_published_certificate(request, run, target),
                        headers={"Content-Disposition": f"attachment; filename=\"{slug_of(target)}.json\""})


@router.get("/certificates/{run}/{target}.html", response_class=HTMLResponse)
def certificate_page(request: Request, run: str, target: str):
    doc = _published_certificate(request, run, target)
    return render(request, "certificate.html.j2", c=doc["certificate"], s=doc["signature"],
                  json_name=f"{quoted(target)}.json", root="../../")


def _published_report(request: Request, run: str, name: str) -> Path:
    with Session(centre_of(request).engine) as s:
        row = s.get(Run, run)
        page = Path(row.folder) / "report" / name if row is not None else None
    if page is None or not page.is_file() or page.is_symlink():
        raise HTTPException(404, NO_SUCH_REPORT)
    return page


@router.get("/reports/{run}.html")
def report_page(request: Request, run: str):
    return FileResponse(_published_report(request, run, "index.html"), media_type="text/html", headers=REPORT_HEADERS)


@router.get("/reports/{run}.pdf")
def report_pdf(request: Request, run: str):
    """The PDF report people file (in the lab's first language), beside Allure's detailed one."""
    return FileResponse(_published_report(request, run, "report.pdf"), media_type="application/pdf",
                        headers=REPORT_HEADERS)


def _signing_key(request: Request):
    lab = centre_of(request).inventory.model.lab
    return load_or_create(key_path(lab.signing_key)).public_key()


@router.get("/keys/", response_class=HTMLResponse)
@router.get("/keys/index.html", response_class=HTMLResponse)
def keys_page(request: Request):
    key = _signing_key(request)
    return render(request, "keys.html.j2", key_id=key_id(key), pem=public_pem(key).decode(), openssl=OPENSSL_RECIPE,
                  python=PYTHON_RECIPE, root="../", generated=_now_iso())


@router.get("/keys/lab-signing-key.pub.pem")
def public_key(request: Request):
    return Response(public_pem(_signing_key(request)), media_type="application/x-pem-file")
