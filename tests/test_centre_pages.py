"""The centre's portal in process (SQLite, no broker): CSRF tokens on every post, the session
cookie's flags, the console for engineers only, a requeue's new attempt, and a vendor's markup
escaped on every page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.centre import auth
from lab.centre.models import Cell
from tests.centre_app import bearer, folder_like_acme, tar_gz

pytestmark = pytest.mark.usefixtures("quick_hashes")  # argon2 at its lowest cost

# --- the portal -------------------------------------------------------------------------------------

def test_posts_without_their_csrf_token_are_403(centre, acme):
    page = centre.client.get("/login")
    assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
    r = centre.client.post("/login", data={"email": "vendor@acme.example", "password": "correct horse"})
    assert r.status_code == 403
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    assert centre.client.cookies.get(auth.SESSION_COOKIE)
    r = centre.client.post("/submissions", files={"submission": ("a.tar.gz", acme)}, follow_redirects=False)
    assert r.status_code == 403 and centre.submissions() == 0 and centre.stored() == []
    r = centre.client.post("/submissions", files={"submission": ("a.tar.gz", acme)}, data={"csrf": "forged"},
                           follow_redirects=False)
    assert r.status_code == 403 and centre.submissions() == 0
    r = centre.client.post("/submissions", files={"submission": ("a.tar.gz", acme)}, data={"csrf": csrf},
                           follow_redirects=False)
    assert r.status_code == 303 and centre.submissions() == 1
    assert centre.client.post("/logout", data={}).status_code == 403
    assert centre.client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303


def test_the_session_cookie_is_httponly_and_lax(centre):
    page = centre.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = centre.client.post("/login", data={"email": "vendor@acme.example", "password": "correct horse",
                                           "csrf": csrf}, follow_redirects=False)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(auth.SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    centre.client.cookies.clear()
    csrf = re.search(r'name="csrf" value="([^"]+)"', centre.client.get("/login?lang=en").text).group(1)
    wrong = centre.client.post("/login", data={"email": "vendor@acme.example", "password": "nope", "csrf": csrf})
    assert wrong.status_code == 401 and "Wrong e-mail or password" in wrong.text


def test_the_console_is_for_engineers(centre, acme):
    sub = centre.upload(acme).json()["id"]
    assert centre.client.get("/console", follow_redirects=False).headers["location"] == "/login?next=/console"
    centre.sign_in("vendor@acme.example", "correct horse")
    assert centre.client.get("/console").status_code == 403
    centre.client.cookies.clear()
    csrf = centre.sign_in("eng@lab.example", "battery staple")
    page = centre.client.get("/console?lang=en").text  # English (the default is zh-CN: tests/test_i18n.py)
    assert 'data-target="debian12-x86_64"' in page and "no live worker serves debian12-x86_64" in page
    centre.finish(sub, "broken")
    page = centre.client.get("/console").text
    assert f'href="/submissions/{sub}?lang=en"' in page and "Requeue" in page and "Publish" in page
    r = centre.client.post("/console/publish", data={"submission": sub}, follow_redirects=False)
    assert r.status_code == 403
    r = centre.client.post("/console/publish", data={"submission": sub, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "published" in r.headers["location"]


def test_requeue_makes_a_new_attempt_and_enqueues_it(centre, acme):
    sub = centre.upload(acme).json()["id"]
    centre.finish(sub, "broken")
    csrf = centre.sign_in("eng@lab.example", "battery staple")
    with Session(centre.engine) as s:
        cell = s.scalars(select(Cell).where(Cell.submission_id == sub, Cell.target == "debian12-x86_64")).one()
    before = len(centre.queued)
    r = centre.client.post("/console/requeue", data={"cell": str(cell.id), "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert centre.queued[before:] == [(cell.id, "debian12-x86_64")]
    cells = centre.client.get(f"/api/v1/submissions/{sub}", headers=bearer(centre.acme)).json()["cells"]
    assert cells[0] == {"target": "debian12-x86_64", "state": "queued", "verdict": None, "reason": "", "attempts": 2}


MARKUP = "<script>alert(1)</script>"


def test_vendor_markup_is_escaped_on_every_page(centre, tmp_path):
    # The vendor name is the organisation's (an engineer typed it, markup and all); version and
    # summary are the manifest's.
    evil = f"Evil {MARKUP} Ltd"
    with centre.session() as s:
        auth.create_org(s, evil)
        auth.create_user(s, "evil@evil.example", "correct horse", org=evil)
        _, token = auth.create_token(s, org=evil)
    folder = folder_like_acme(tmp_path, "markup-probe", vendor=evil, version=f"0.9.0{MARKUP}", summary=f"sum {MARKUP}")
    r = centre.upload(tar_gz(folder), token)
    assert r.status_code == 201, r.text
    sub = r.json()["id"]
    centre.finish(sub)
    assert centre.client.post(f"/api/v1/submissions/{sub}/publish", headers=bearer(centre.engineer)).status_code == 200
    pages = ["/", "/products/markup-probe.html"]
    centre.sign_in("evil@evil.example", "correct horse")
    pages_in = ["/submissions", f"/submissions/{sub}"]
    for path in pages + pages_in:
        text = centre.client.get(path).text
        assert MARKUP not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
    centre.client.cookies.clear()
    centre.sign_in("eng@lab.example", "battery staple")
    for path in ["/console", "/submissions", f"/submissions/{sub}"]:
        assert MARKUP not in centre.client.get(path).text, path
