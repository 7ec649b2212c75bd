"""What every page of the portal shares: the templates (Jinja2, autoescaped: every vendor string is
escaped), the security headers, who is signed in, CSRF checks, small forms and errors as pages.

The templates are the portal's (``lab/centre/templates``) and, behind them, the catalogue's
(``lab/templates``): the portal's ``base.html.j2`` takes the catalogue's place, so the catalogue's
own pages (matrix, product, certificate, keys) are served in the portal's frame.

Every page, the buyers', the vendors' and the engineers' alike, is in each of ``[lab] languages``,
chosen here once (``language_of``): ``?lang=en``, else the cookie the switch left, else the first.
A redirect keeps the language it was asked in (``redirect``), and so do the links and forms of a
page (``link``). What a vendor wrote (names, reasons, file names) is shown as it is, escaped.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader

from lab import i18n
from lab.catalogue.publish import install_filters
from lab.centre.auth import Principal, csrf_matches
from lab.centre.context import centre_of, current
from lab.certs.render import ENV as CATALOGUE_ENV
from lab.i18n import N_
from lab.text import finalize
from lab.wording import Wording

ENV = i18n.install(Environment(loader=ChoiceLoader([FileSystemLoader(Path(__file__).with_name("templates")),
                                                    PackageLoader("lab", "templates")]), autoescape=True,
                               finalize=finalize))  # a vendor's hidden characters written out (lab.text)
install_filters(ENV)  # the catalogue's words (verdicts, reasons, facts) in the page's language
# ... and whatever else the catalogue's templates use (lab.certs.render registers it): the same
# templates render here, in the portal's frame.
for _name, _value in CATALOGUE_ENV.filters.items():
    ENV.filters.setdefault(_name, _value)
for _name, _value in CATALOGUE_ENV.globals.items():
    ENV.globals.setdefault(_name, _value)


def size_words(n: int) -> str:
    """``536870912`` -> ``512 MiB``; ``1000`` -> ``1,000 bytes`` (``1,000 字节``)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{i18n.number_words(n >> shift)} {unit}"
    return i18n.gettext("%(num)s bytes") % {"num": i18n.number_words(n)}


# A submission's and a cell's state, as the API says them (the contract's words, in English there).
STATES = frozenset((N_("queued"), N_("running"), N_("done"), N_("finished")))


def state_words(word: object) -> str:
    """A state or a verdict in the page's language; anything else as it is."""
    text = "" if word is None else str(word)
    return i18n.gettext(text) if text in STATES else i18n.verdict_word(text)


# The portal's own refusals (an HTTPException's detail). The API answers them in English (its
# contract); a page says them in its language, like every refusal written as a ``Wording``
# (lab.wording: the buyers' pages', an upload's problems, the ledger's). Any other message (a
# database's complaint) is shown as it is.
SIGN_IN_FIRST = Wording(N_("sign in first: /login"))
LOST_CSRF = Wording(N_("this form has lost its CSRF token: reload the page and send it again"))
LOGIN_LOST_CSRF = Wording(N_("this form has lost its CSRF token: reload the sign-in page and try again"))
FORM_TOO_LARGE = Wording(N_("this form is larger than the portal accepts"))
ENGINEERS_ONLY = Wording(N_("the console is for the lab's engineers"))
NO_ORGANISATION = Wording(N_("an engineer's account uploads for no organisation"))
NO_SUCH_SUBMISSION = Wording(N_("no such submission"))
NO_SUCH_CELL = Wording(N_("no such cell"))
NOT_A_CELL = Wording(N_("cell: a cell's number"))
STARLETTE = (Wording(N_("Not Found")), Wording(N_("Method Not Allowed")))  # Starlette's own details


def refusal_words(message: object) -> str:
    """A refusal in the page's language (a state it names too); any other message as it is."""
    return i18n.words(message, state_words)


ENV.filters["size"] = size_words
ENV.filters["state"] = state_words
ENV.filters["refusal"] = refusal_words

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
TITLES = {401: N_("Please sign in"), 403: N_("Not allowed"), 404: N_("Not found"), 409: N_("Not yet"),
          413: N_("Too large"), 422: N_("Refused"), 429: N_("Too many queued"),
          503: N_("The service is not available")}
LANGUAGE_COOKIE = "lang"


def signed_in(request: Request) -> tuple[Principal, dict]:
    who, session = current(request)
    if who is None:
        raise HTTPException(401, SIGN_IN_FIRST)
    return who, session


def check_csrf(session: dict, form: dict) -> None:
    if not csrf_matches(session.get("csrf"), form.get("csrf")):
        raise HTTPException(403, LOST_CSRF)


async def small_form(request: Request) -> dict[str, str]:
    """An url-encoded form of at most ``FORM_MAX`` bytes (413 past it); the last value of each name."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX:
            raise HTTPException(413, FORM_TOO_LARGE)
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


_ASK = object()  # render: who is signed in is read from the request


def languages_of(request: Request) -> list[str]:
    return list(centre_of(request).inventory.model.lab.languages)


def language_of(request: Request) -> str:
    """The page's language: ``?lang=`` (the switch's links), else the cookie the switch left, else
    the first of ``[lab] languages``. Anything but a configured language is ignored."""
    languages = languages_of(request)
    for asked in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in languages:
            return asked
    return languages[0]


def with_language(url: str, lang: str, default: str) -> str:
    """A link that keeps the page's language: ``/products/x.html?lang=en`` (the default: as it is)."""
    if lang == default or url.startswith(("http:", "https:", "#")):
        return url
    path, _, fragment = url.partition("#")
    joined = f"{path}{'&' if '?' in path else '?'}lang={lang}"
    return f"{joined}#{fragment}" if fragment else joined


def switch_url(request: Request, lang: str) -> str:
    """This page in ``lang``: its path and query (``?next=`` of the sign-in page...), ``lang`` set."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return f"{request.url.path}?{urllib.parse.urlencode(query, safe='/')}"


def redirect(request: Request, url: str, status: int = 303) -> RedirectResponse:
    """A redirect inside the portal that keeps the language the request was in."""
    return RedirectResponse(with_language(url, language_of(request), languages_of(request)[0]), status_code=status)


def render(request: Request, name: str, status: int = 200, who=_ASK, session: dict | None = None,
           headers: dict | None = None, **context) -> HTMLResponse:
    """A page in the portal's frame (``who`` signed in, and the session's CSRF token for its forms),
    in the request's language (``language_of``), with a switch to the others that remembers the
    choice in a cookie."""
    if who is _ASK:
        who, session = current(request)
    languages = languages_of(request)
    lang = language_of(request)
    switch = {code: switch_url(request, code) for code in languages} if len(languages) > 1 else None

    def link(url: str) -> str:
        return with_language(url, lang, languages[0])

    page = i18n.render(ENV, name, lang, lab=centre_of(request).inventory.model.lab.name, who=who,
                       csrf=(session or {}).get("csrf", ""), switch=switch, link=link, **context)
    response = HTMLResponse(page, status_code=status, headers=headers)
    response.headers["Content-Language"] = lang
    if len(languages) > 1:
        response.headers["Vary"] = "Cookie"  # the same URL is another language for another cookie
    if request.query_params.get("lang") == lang and request.cookies.get(LANGUAGE_COOKIE) != lang:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def error_page(request: Request, status: int, message: str | list[str], headers: dict | None = None) -> HTMLResponse:
    """``status`` as a page: its title and the message, or each of a list (a refusal: in the page's language)."""
    try:
        who, session = current(request)
    except Exception:  # the database may be what failed: the page still says what happened
        who, session = None, None
    return render(request, "error.html.j2", status, who, session, headers=headers, code=status,
                  title=TITLES.get(status, N_("Error")), message=message, root="/")


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
