"""What every page of the portal shares: the templates (Jinja2, autoescaped: every vendor string is
escaped), the security headers, who is signed in, CSRF checks, small forms and errors as pages.

The templates are the portal's (``lab/centre/templates``) and, behind them, the catalogue's
(``lab/templates``): the portal's ``base.html.j2`` takes the catalogue's place, so the catalogue's
own pages (matrix, product, certificate, keys) are served in the portal's frame.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader

from lab.centre.auth import Principal, csrf_matches
from lab.centre.context import centre_of, current
from lab.certs.render import yes_no

ENV = Environment(loader=ChoiceLoader([FileSystemLoader(Path(__file__).with_name("templates")),
                                       PackageLoader("lab", "templates")]), autoescape=True)
ENV.filters["yes_no"] = yes_no
ENV.globals.setdefault("_", lambda text, **kw: text % kw if kw else text)  # until gettext (issue 14)


def size_words(n: int) -> str:
    """``536870912`` -> ``512 MiB``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


ENV.filters["size"] = size_words

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "same-origin", "Content-Security-Policy": CSP}
# A run's report is Allure's self-contained page, rendered from results that carry the vendor's
# strings. Its scripts may run (inline, eval, blob: and data: URLs: Allure needs them) but reach
# nothing: no request to the portal or the API (connect-src has no 'self'), no form, no frame.
# (A sandboxed, opaque origin would be stronger, but Allure then fails on its localStorage.)
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' blob: data:; style-src 'unsafe-inline'; "
              "img-src data: blob:; font-src data:; media-src data: blob:; connect-src data: blob:; "
              "worker-src blob: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
REPORT_HEADERS = {"Content-Security-Policy": REPORT_CSP}
FORM_MAX = 16 << 10
TITLES = {401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Not yet", 413: "Too large",
          422: "Refused", 503: "The service is not available"}


def signed_in(request: Request) -> tuple[Principal, dict]:
    who, session = current(request)
    if who is None:
        raise HTTPException(401, "sign in first: /login")
    return who, session


def check_csrf(session: dict, form: dict) -> None:
    if not csrf_matches(session.get("csrf"), form.get("csrf")):
        raise HTTPException(403, "this form has lost its CSRF token: reload the page and send it again")


async def small_form(request: Request) -> dict[str, str]:
    """An url-encoded form of at most ``FORM_MAX`` bytes (413 past it); the last value of each name."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX:
            raise HTTPException(413, f"a form of more than {FORM_MAX} bytes")
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


_ASK = object()  # render: who is signed in is read from the request


def render(request: Request, name: str, status: int = 200, who=_ASK, session: dict | None = None,
           headers: dict | None = None, **context) -> HTMLResponse:
    """A page in the portal's frame (``who`` signed in, and the session's CSRF token for its forms)."""
    if who is _ASK:
        who, session = current(request)
    page = ENV.get_template(name).render(lab=centre_of(request).inventory.model.lab.name, who=who,
                                         csrf=(session or {}).get("csrf", ""), **context)
    return HTMLResponse(page, status_code=status, headers=headers)


def error_page(request: Request, status: int, message: str, headers: dict | None = None) -> HTMLResponse:
    try:
        who, session = current(request)
    except Exception:  # the database may be what failed: the page still says what happened
        who, session = None, None
    return render(request, "error.html.j2", status, who, session, headers=headers, code=status,
                  title=TITLES.get(status, "Error"), message=message, root="/")


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def age_s(moment: datetime | None, now: datetime) -> int:
    if moment is None:
        return 0
    return int((now - (moment if moment.tzinfo else moment.replace(tzinfo=UTC))).total_seconds())


def quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")
