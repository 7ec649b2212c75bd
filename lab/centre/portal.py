"""The portal: server-rendered pages for buyers, vendors and engineers (Jinja2, autoescaped).

``router`` serves them all: the buyers' published catalogue (``lab.centre.buyers``), the engineers'
console (``lab.centre.console``), and here the vendors' side:

- ``/login`` (e-mail and password, checked against argon2; a signed session cookie, HttpOnly,
  SameSite=Lax) and ``/logout``;
- ``/submissions``: one's own submissions (every one for an engineer) with each target's progress,
  and the upload form; ``/submissions/{id}``: its progress, and links to its verdicts, report and
  certificates (the API's, which read the session cookie too).

Every form carries the session's CSRF token (the login form: one bound to a pre-login cookie); a
post without it is refused (403) before anything is done.

The pages are in each of ``[lab] languages`` like the buyers' (``lab.centre.pages.render`` chooses);
a redirect keeps the language it was asked in.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lab.centre import buyers, console, review
from lab.centre.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Principal,
    authenticate_password,
    csrf_matches,
    login_csrf,
    login_nonce,
    session_cookie,
    sign_out,
)
from lab.centre.context import centre_of, current
from lab.centre.intake import accept_submission
from lab.centre.models import Submission, User
from lab.centre.pages import (
    LOGIN_LOST_CSRF,
    NO_ORGANISATION,
    NO_SUCH_SUBMISSION,
    SIGN_IN_FIRST,
    check_csrf,
    quoted,
    redirect,
    render,
    small_form,
)
from lab.centre.upload import Rejected, UploadTooLarge, drain, receive_upload

router = APIRouter(include_in_schema=False)
router.include_router(buyers.router)
router.include_router(console.router)


def _local(path: str | None, default: str) -> str:
    """A redirect inside the portal only."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


def _login_form(request: Request, status: int = 200, failed: bool = False, email: str = "",
                next_: str = "") -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_COOKIE) or login_nonce()
    response = render(request, "login.html.j2", status, failed=failed, email=email, next=next_,
                      login_csrf=login_csrf(centre_of(request).secret, nonce), root="/")
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next_: str = Query("", alias="next")):
    return _login_form(request, next_=_local(next_, ""))


@router.post("/login")
async def login(request: Request):
    form = await small_form(request)
    centre = centre_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not csrf_matches(login_csrf(centre.secret, nonce), form.get("csrf")):
        raise HTTPException(403, LOGIN_LOST_CSRF)

    def check() -> User | None:
        with Session(centre.engine, expire_on_commit=False) as s, s.begin():
            return authenticate_password(s, form.get("email", ""), form.get("password", ""))

    user = await run_in_threadpool(check)
    if user is None:
        return _login_form(request, 401, True, form.get("email", "")[:320],
                           _local(form.get("next"), ""))
    default = "/console" if user.engineer else "/submissions"
    response = redirect(request, _local(form.get("next"), default))
    response.set_cookie(SESSION_COOKIE, session_cookie(centre.secret, user.id), max_age=SESSION_SECONDS,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request):
    """POST with the session's CSRF token ends the session for good (every cookie of the user issued
    until now, a copied one too); GET (a link typed or bookmarked) only drops this browser's cookie."""
    if request.method == "POST":
        _, session = current(request)
        if session is not None:
            check_csrf(session, await small_form(request))
            centre = centre_of(request)

            def forget() -> None:
                with Session(centre.engine) as s, s.begin():
                    sign_out(s, session["uid"])

            await run_in_threadpool(forget)
    response = redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- vendors: submissions -------------------------------------------------------------------------

def _views(centre, who: Principal) -> list[dict]:
    query = select(Submission).options(selectinload(Submission.cells), selectinload(Submission.org)).order_by(
        Submission.created.desc(), Submission.id.desc()).limit(500)
    if not who.engineer:
        query = query.where(Submission.org_id == who.org_id)
    with Session(centre.engine) as s:
        return [{**review.submission_view(r), "org": r.org.name} for r in s.scalars(query).all()]


def _submissions_page(request: Request, who: Principal, session: dict, status: int = 200, **context) -> HTMLResponse:
    centre = centre_of(request)
    views = _views(centre, who)
    return render(request, "submissions.html.j2", status, who, session, views=views, root="/",
                  unfinished=any(v["state"] != "finished" for v in views),
                  max_bytes=centre.settings.max_upload_bytes, **context)


@router.get("/submissions", response_class=HTMLResponse)
def submissions_page(request: Request):
    who, session = current(request)
    if who is None:
        return redirect(request, "/login?next=/submissions")
    return _submissions_page(request, who, session)


@router.post("/submissions")
async def upload(request: Request):
    who, session = current(request)
    if who is None or who.org_id is None:
        await drain(request)
        if who is None:
            raise HTTPException(401, SIGN_IN_FIRST)
        raise HTTPException(403, NO_ORGANISATION)
    centre = centre_of(request)
    try:
        received = await receive_upload(request, centre.settings.max_upload_bytes, centre.spool)
    except UploadTooLarge as exc:
        return _submissions_page(request, who, session, 413, too_large=exc.limit)
    except Rejected as exc:
        return _submissions_page(request, who, session, 422, problems=[p.as_dict() for p in exc.found])
    try:
        check_csrf(session, received.fields)
        sub = await run_in_threadpool(accept_submission, centre.engine, centre.settings, centre.inventory,
                                      who.org_id, received, centre.enqueue)
    except Rejected as exc:
        return _submissions_page(request, who, session, 422, problems=[p.as_dict() for p in exc.found],
                                 upload_name=received.filename)
    finally:
        received.discard()
    return redirect(request, f"/submissions/{sub.id}")


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(request: Request, submission_id: str):
    who, session = current(request)
    if who is None:
        return redirect(request, f"/login?next=/submissions/{quoted(submission_id)}")
    sub = review.load(centre_of(request).engine, submission_id) if len(submission_id) <= 40 else None
    if sub is None or not who.may_read(sub.org_id):
        raise HTTPException(404, NO_SUCH_SUBMISSION)
    view = review.submission_view(sub)
    return render(request, "submission.html.j2", 200, who, session, view=view, vendor=sub.vendor, org=sub.org.name,
                  run_id=sub.run_id, published_by=sub.published_by or "", root="/",
                  any_done=any(c["state"] == "done" for c in view["cells"]))
