"""Who the centre lets in and what it shows them, in process (SQLite, no broker): tokens shown once
and stored hashed, wrong, revoked and expired tokens, the admin helpers' refusals, argon2 passwords,
the signed session cookie; 401 without a valid token, 403 for an engineer's upload, and 404 for
another organisation's submission on every path, API and portal alike."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.centre import auth
from lab.centre.models import ApiToken, User
from lab.errors import InputError
from lab.hashing import sha256_text
from tests.centre_app import bearer

pytestmark = pytest.mark.usefixtures("quick_hashes")  # argon2 at its lowest cost

# --- tokens, passwords, sessions --------------------------------------------------------------------

def test_a_token_is_shown_once_and_only_its_hash_is_stored(centre):
    row, token = centre.acme_row, centre.acme
    assert re.fullmatch(r"lab_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    secret = token.split("_", 2)[2]
    with Session(centre.engine) as s:
        stored = s.get(ApiToken, row.id)
        assert stored.secret_sha256 == sha256_text(secret) and secret not in repr(stored.__dict__)
        assert stored.expires is not None  # a year, printed by `lab admin token create`
        assert auth.check_token(s, token).name == "ACME Software"


@pytest.mark.parametrize(("change", "said"), [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "unknown token"),
    (lambda t: "lab_0123456789abcdef_" + t.split("_", 2)[2], "unknown token"),
    (lambda t: "not-a-token", "not a token of this centre"),
])
def test_a_wrong_token_is_refused(centre, change, said):
    with Session(centre.engine) as s, pytest.raises(auth.Unauthenticated, match=said):
        auth.check_token(s, change(centre.acme))
    r = centre.client.get("/api/v1/submissions", headers=bearer(change(centre.acme)))
    assert r.status_code == 401 and said in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_revoked_and_expired_tokens_are_refused_at_once(centre, acme):
    assert centre.upload(acme).status_code == 201
    with centre.session() as s:
        auth.revoke_token(s, centre.acme_row.id)
    r = centre.upload(acme)
    assert r.status_code == 401 and r.json() == {"detail": "this token is revoked"}
    assert centre.client.get("/api/v1/submissions", headers=bearer(centre.acme)).status_code == 401
    with centre.session() as s:
        _, late = auth.create_token(s, org="ACME Software", expires=timedelta(seconds=-1))
    r = centre.upload(acme, late)
    assert r.status_code == 401 and r.json() == {"detail": "this token has expired"}
    assert centre.submissions() == 1


def test_admin_helpers_refuse_what_they_cannot_make(centre):
    with centre.session() as s:
        with pytest.raises(InputError, match="already exists"):
            auth.create_org(s, "ACME Software")
        with pytest.raises(InputError, match="at least 8 characters"):
            auth.create_user(s, "new@acme.example", "short", org="ACME Software")
        with pytest.raises(InputError, match="no organisation named"):
            auth.create_user(s, "new@acme.example", "long enough", org="Nobody")
        with pytest.raises(InputError, match="no engineer"):
            auth.create_token(s, engineer="vendor@acme.example")
        with pytest.raises(InputError, match="exactly one"):
            auth.create_token(s)
        with pytest.raises(InputError, match="no token"):
            auth.revoke_token(s, "0000000000000000")


def test_passwords_are_argon2_and_checked(centre):
    with Session(centre.engine) as s:
        user = auth.authenticate_password(s, "Vendor@ACME.example", "correct horse")
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert auth.authenticate_password(s, "vendor@acme.example", "wrong horse") is None
        assert auth.authenticate_password(s, "nobody@acme.example", "correct horse") is None


def test_the_session_cookie_is_signed_and_expires():
    secret = b"s" * 64
    cookie = auth.session_cookie(secret, 7)
    data = auth.read_session(secret, cookie)
    assert data["uid"] == 7 and data["csrf"]
    mac = cookie.split(".")[1]
    forged = auth._b64(b'{"uid": 1, "csrf": "x", "iat": %d}' % int(datetime.now(UTC).timestamp()))
    assert auth.read_session(secret, f"{forged}.{mac}") is None
    assert auth.read_session(b"t" * 64, cookie) is None
    later = datetime.now(UTC) + timedelta(seconds=auth.SESSION_SECONDS + 5)
    assert auth.read_session(secret, cookie, at=later) is None


def test_an_engineers_token_does_not_upload(centre, acme):
    r = centre.upload(acme, centre.engineer)
    assert r.status_code == 403 and centre.submissions() == 0


# --- refusals: 401, 404 ---------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer lab_zz_short"])
def test_no_or_bad_authorization_is_401_and_reads_nothing(centre, acme, header):
    headers = {"Authorization": header} if header else {}
    r = centre.client.post("/api/v1/submissions", files={"submission": ("a.tar.gz", acme)}, headers=headers)
    assert r.status_code == 401 and "detail" in r.json()
    assert centre.stored() == [] and centre.submissions() == 0
    assert centre.client.get("/api/v1/submissions", headers=headers).status_code == 401


def test_another_organisations_submission_is_404_on_every_path(centre, acme):
    sub = centre.upload(acme).json()["id"]
    centre.finish(sub)
    missing = "00000000-0000-4000-8000-000000000000"
    for path in ("", "/verdicts", "/report", "/certificates/debian12-x86_64"):
        theirs = centre.client.get(f"/api/v1/submissions/{sub}{path}", headers=bearer(centre.other))
        none = centre.client.get(f"/api/v1/submissions/{missing}{path}", headers=bearer(centre.other))
        assert theirs.status_code == none.status_code == 404, path
        assert theirs.json() == none.json() == {"detail": "no such submission"}
        mine = centre.client.get(f"/api/v1/submissions/{sub}{path}", headers=bearer(centre.acme))
        assert mine.status_code == 200 or mine.json()["detail"] != "no such submission", path
    for token in (centre.other, centre.acme):
        r = centre.client.post(f"/api/v1/submissions/{sub}/publish", headers=bearer(token))
        assert r.status_code == (404 if token == centre.other else 403)
    centre.sign_in("vendor@acme.example", "correct horse")
    assert centre.client.get(f"/submissions/{sub}").status_code == 200
    with centre.session() as s:
        auth.create_user(s, "someone@other.example", "other password", org="Other Vendor")
    centre.client.cookies.clear()
    centre.sign_in("someone@other.example", "other password")
    page = centre.client.get(f"/submissions/{sub}")
    assert page.status_code == 404 and "acme-calc" not in page.text
    assert "acme-calc" not in centre.client.get("/submissions").text


def test_five_wrong_passwords_make_an_account_wait_and_say_nothing_of_it(centre):
    """A hostile review guessed 4.5 passwords a second with one CSRF token, the right one taken at
    once after 30 wrong ones."""
    from datetime import timedelta

    from lab.centre.auth import LOGIN_WAIT, authenticate_password, now

    with centre.session() as s:
        auth.create_user(s, "guessed@acme.example", "the right one", org="ACME Software")
        s.commit()
    at = now()
    with centre.session() as s:
        for _ in range(5):
            assert authenticate_password(s, "guessed@acme.example", "wrong", at) is None
        assert authenticate_password(s, "guessed@acme.example", "the right one", at) is None  # waits
        later = at + LOGIN_WAIT + timedelta(seconds=1)
        assert authenticate_password(s, "guessed@acme.example", "the right one", later) is not None
        for _ in range(4):  # a success starts the count again
            assert authenticate_password(s, "guessed@acme.example", "wrong", later) is None
        assert authenticate_password(s, "guessed@acme.example", "the right one", later) is not None


def test_signing_out_ends_the_session_a_copied_cookie_included(centre):
    """A hostile review: after /logout the saved cookie still opened /submissions for 12 hours."""
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    copied = dict(centre.client.cookies)
    assert centre.client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    centre.client.cookies.clear()
    for name, value in copied.items():
        centre.client.cookies.set(name, value)
    again = centre.client.get("/submissions", follow_redirects=False)
    assert again.status_code == 303 and "/login" in again.headers["location"]
    centre.sign_in("vendor@acme.example", "correct horse")  # a new session works
    assert centre.client.get("/submissions").status_code == 200


def test_wrong_passwords_tried_at_once_all_count(centre):
    """A hostile review: 20 wrong guesses sent at once counted as two (read, argon2, write back)."""
    with centre.session() as s:
        auth.create_user(s, "victim@lab.example", "right password", engineer=True)
    real = auth._hasher

    class Slow:  # argon2 as slow as in production, without its memory: guesses overlap as they do
        def verify(self, h, p):
            import time
            time.sleep(0.2)
            return real.verify(h, p)

        def __getattr__(self, name):
            return getattr(real, name)

    auth._hasher = Slow()
    try:
        def guess(i):
            with Session(centre.engine, expire_on_commit=False) as s, s.begin():
                auth.authenticate_password(s, "victim@lab.example", f"guess {i}")

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        auth._hasher = real
    with Session(centre.engine) as s:
        user = s.scalar(select(User).where(User.email == "victim@lab.example"))
        assert user.locked_until is not None, f"20 wrong guesses, failed_logins={user.failed_logins}, no wait"
