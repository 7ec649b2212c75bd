"""Who is asking: API tokens, portal passwords, and the accounts the admin commands create.

A token is ``lab_<id>_<secret>``: the id (16 hex digits) names the row, only the sha256 of the
secret is stored, compared in constant time; a revoked or expired token is refused like an
unknown one. Passwords are argon2id hashes (argon2-cffi's defaults), rehashed when the defaults
change. A vendor's token acts for its organisation; an engineer's for an engineer (who reads every
submission and publishes).

The helpers take the caller's session and only ``flush``: the caller commits (``lab admin`` runs
each command in one transaction). Example::

    with Session(engine) as s, s.begin():
        create_org(s, "ACME")
        row, token = create_token(s, org="ACME")   # show ``token`` once; ``row.id`` revokes it
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lab.centre.models import ApiToken, Organisation, User
from lab.errors import InfrastructureError, InputError, LabError
from lab.hashing import sha256_text
from lab.lookalike import drawn_like, look_alike

PREFIX = "lab"
TOKEN = re.compile(r"lab_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})")
TOKEN_DAYS = 365          # a token's default lifetime: printed when it is made
PASSWORD_MIN = 8
LOGIN_FAILURES = 5                  # wrong passwords in a row, then the account waits
LOGIN_WAIT = timedelta(minutes=15)
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
ORG_MAX = 400

_hasher = PasswordHasher()
_dummy: list[str] = []


def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so that a wrong address costs the time of a
    wrong password (made on first use: hashing takes a moment)."""
    if not _dummy:
        _dummy.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[0]


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: an organisation (a vendor's token or user) or an engineer."""

    org_id: int | None
    engineer: bool
    name: str            # the organisation's name, or the engineer's e-mail: for messages and records
    user_id: int | None = None
    token_id: str | None = None

    def may_read(self, org_id: int) -> bool:
        return self.engineer or (self.org_id is not None and self.org_id == org_id)


def now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- accounts -------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _org(session: Session, org: str | Organisation) -> Organisation:
    if isinstance(org, Organisation):
        return org
    row = session.scalar(select(Organisation).where(Organisation.name == org))
    if row is None:
        raise InputError("--org", [f"no organisation named {org!r} (create it: lab admin org create NAME)"])
    return row


def _one_line(what: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > ORG_MAX or not value.isprintable():
        raise InputError(what, [f"an organisation's name or vendor name is 1 to {ORG_MAX} printable characters "
                                "on one line"])
    problem = look_alike(value)  # drawn like another organisation's name on a page: refused as a vendor's is
    if problem:
        raise InputError(what, [problem])
    return value


def _vendor_free(session: Session, vendor: str, what: str, mine: Organisation | None = None) -> None:
    """``InputError`` when another organisation certifies under ``vendor`` (its vendor name)."""
    taken = session.scalar(select(Organisation).where(
        (Organisation.vendor == vendor) | ((Organisation.vendor.is_(None)) & (Organisation.name == vendor))))
    if taken is not None and taken is not mine:
        raise InputError(what, [f"the vendor name {vendor!r} is already organisation {taken.name!r}'s"])
    others = {o.vendor_name: o.name for o in session.scalars(select(Organisation)) if o is not mine}
    alike = drawn_like(vendor, others)
    if alike is not None:
        raise InputError(what, [f"the vendor name {vendor!r} draws like organisation {others[alike]!r}'s, "
                                f"{alike!r}: a buyer could not tell them apart on a certificate"])


def create_org(session: Session, name: str, vendor: str | None = None) -> Organisation:
    """A vendor organisation; ``vendor``: the vendor name its submissions give (``[product] vendor``;
    default its name). ``InputError`` if either is taken, by any organisation's name or vendor name,
    or not one line of text."""
    name = _one_line("NAME", name)
    vendor = _one_line("--vendor", vendor) if vendor is not None else None
    if session.scalar(select(Organisation).where(Organisation.name == name)) is not None:
        raise InputError("NAME", [f"an organisation named {name!r} already exists"])
    for wanted in {name, vendor or name}:
        _vendor_free(session, wanted, "--vendor" if wanted == vendor else "NAME")
    row = Organisation(name=name, created=now(), vendor=vendor if vendor and vendor != name else None)
    session.add(row)
    session.flush()
    return row


def set_vendor(session: Session, name: str, vendor: str) -> Organisation:
    """Change the vendor name organisation ``name``'s submissions must give; ``InputError`` if there
    is no such organisation or another one certifies under that name."""
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise InputError("NAME", [f"no organisation named {name!r}"])
    vendor = _one_line("VENDOR", vendor)
    _vendor_free(session, vendor, "VENDOR", mine=org)
    org.vendor = vendor if vendor != org.name else None
    session.flush()
    return org


def create_user(session: Session, email: str, password: str, org: str | Organisation | None = None,
                engineer: bool = False) -> User:
    """A portal user: a vendor's (``org``: its organisation's name) or an engineer (``engineer``)."""
    email = email.strip().lower()
    problems = []
    if not EMAIL.fullmatch(email):
        problems.append(f"EMAIL: {email!r} is not an e-mail address")
    if len(password) < PASSWORD_MIN:
        problems.append(f"password: at least {PASSWORD_MIN} characters")
    if org is None and not engineer:
        problems.append("--org: a vendor's user belongs to an organisation (or make an engineer)")
    if problems:
        raise InputError("user", problems)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise InputError("user", [f"EMAIL: a user {email!r} already exists"])
    row = User(email=email, password_hash=hash_password(password), org=_org(session, org) if org else None,
               engineer=engineer, created=now())
    session.add(row)
    session.flush()
    return row


def reset_password(session: Session, email: str, password: str) -> User:
    """A new password for a user (a forgotten one, or one that may have been guessed): the account's
    wait after wrong passwords is lifted and every session it had is ended."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise InputError("user", [f"EMAIL: no user {email.strip().lower()!r}"])
    if len(password) < PASSWORD_MIN:
        raise InputError("user", [f"password: at least {PASSWORD_MIN} characters"])
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until, user.signed_out = 0, None, now()
    session.flush()
    return user


def create_token(session: Session, org: str | Organisation | None = None, engineer: str | None = None, *,
                 engineer_email: str | None = None,
                 expires: datetime | timedelta | None = timedelta(days=TOKEN_DAYS)) -> tuple[ApiToken, str]:
    """A new token for an organisation (``org``, its name) or an engineer (``engineer``: the e-mail
    of a user made with ``--engineer``; ``engineer_email`` is the same). Returns the stored row
    (``row.id`` names it for ``revoke_token``) and the token itself, which is never stored.
    ``expires``: a moment, a lifetime from now, or None for never."""
    engineer = engineer or engineer_email
    if bool(org) == bool(engineer):
        raise InputError("token", ["give exactly one of an organisation and an engineer's e-mail"])
    row = ApiToken(id=secrets.token_hex(8), created=now())
    if org:
        row.org = _org(session, org)
    else:
        user = session.scalar(select(User).where(User.email == engineer.strip().lower()))
        if user is None or not user.engineer:
            raise InputError("--engineer", [f"no engineer {engineer!r} (make one: lab admin user create EMAIL "
                                            "--engineer)"])
        row.user = user
    if isinstance(expires, timedelta):
        expires = row.created + expires
    row.expires = expires
    secret = secrets.token_urlsafe(32)
    row.secret_sha256 = sha256_text(secret)
    session.add(row)
    session.flush()
    return row, f"{PREFIX}_{row.id}_{secret}"


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoked at once: the next request with it is refused. Revoking twice keeps the first time."""
    token_id = token_id.strip()
    if token_id.startswith(f"{PREFIX}_"):  # the whole token given: its id is the second part
        m = TOKEN.fullmatch(token_id)
        token_id = m.group(1) if m else token_id
    row = session.get(ApiToken, token_id)
    if row is None:
        raise InputError("TOKEN_ID", [f"no token {token_id!r}"])
    if row.revoked is None:
        row.revoked = now()
        session.flush()
    return row


# --- checking who asks ----------------------------------------------------------------------------

class Unauthenticated(LabError):
    """A token or session that does not say who asks (401); the message says why, to its holder."""


def check_token(session: Session, token: str) -> Principal:
    """The principal of a valid token; ``Unauthenticated`` for a malformed, unknown, wrong, revoked
    or expired one (revoked and expired are said only once the secret is right)."""
    m = TOKEN.fullmatch(token.strip())
    if m is None:
        raise Unauthenticated(f"not a token of this centre (they look like {PREFIX}_ID_SECRET)")
    row = session.get(ApiToken, m.group(1))
    if row is None or not hmac.compare_digest(row.secret_sha256, sha256_text(m.group(2))):
        raise Unauthenticated("unknown token")
    if row.revoked is not None:
        raise Unauthenticated("this token is revoked")
    if row.expires is not None and _aware(row.expires) <= now():
        raise Unauthenticated("this token has expired")
    if row.user is not None and row.user.engineer:
        return Principal(org_id=None, engineer=True, name=row.user.email, user_id=row.user.id, token_id=row.id)
    if row.user is None and row.org is not None:
        return Principal(org_id=row.org.id, engineer=False, name=row.org.name, token_id=row.id)
    raise Unauthenticated("this token no longer belongs to an engineer or an organisation")


def authenticate_token(session: Session, token: str) -> Principal | None:
    """``check_token``, with None for any refusal."""
    try:
        return check_token(session, token)
    except Unauthenticated:
        return None


def authenticate_password(session: Session, email: str, password: str, at: datetime | None = None) -> User | None:
    """The user whose password this is, else None (the same time spent for an unknown e-mail).

    After ``LOGIN_FAILURES`` wrong passwords in a row an account takes none, right or wrong, for
    ``LOGIN_WAIT``: a hostile review guessed 4.5 passwords a second, limited only by argon2. The
    answer is the same None as for a wrong password, so a waiting account does not tell that it
    exists; the sign-in page says the rule."""
    at = at or now()
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    waiting = user is not None and user.locked_until is not None and _aware(user.locked_until) > at
    try:
        _hasher.verify(user.password_hash if user and not waiting else _dummy_hash(), password)
        if waiting:
            return None
    except (VerificationError, InvalidHashError):
        if user is not None and not waiting:  # counted in the database: guesses sent at once all count
            count = session.execute(update(User).where(User.id == user.id)
                                    .values(failed_logins=User.failed_logins + 1)
                                    .returning(User.failed_logins)).scalar()
            if count is not None and count >= LOGIN_FAILURES:
                session.execute(update(User).where(User.id == user.id, User.failed_logins >= LOGIN_FAILURES)
                                .values(failed_logins=0, locked_until=at + LOGIN_WAIT))
        return None
    if user is None:
        return None
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.flush()
    return user


def sign_out(session: Session, user_id: int, at: datetime | None = None) -> None:
    """Every session cookie of the user issued until now is refused from now on (``session_valid``):
    a copied cookie no longer works once its owner signs out (a hostile review's still did)."""
    user = session.get(User, user_id)
    if user is not None:
        user.signed_out = at or now()
        session.flush()


def session_valid(user: User, data: dict) -> bool:
    """The session ``data`` (read_session's) was issued after the user last signed out (to the
    millisecond: signing in again at once after signing out must work)."""
    issued = data.get("ms") if isinstance(data.get("ms"), int) else data["iat"] * 1000
    return user.signed_out is None or issued > int(_aware(user.signed_out).timestamp() * 1000)


def principal_of_user(user: User) -> Principal:
    if user.engineer:
        return Principal(org_id=None, engineer=True, name=user.email, user_id=user.id)
    return Principal(org_id=user.org_id, engineer=False, name=user.org.name if user.org else "", user_id=user.id)


# --- the portal's session cookie and CSRF tokens --------------------------------------------------
#
# The cookie holds ``base64url(json) "." base64url(hmac-sha256)`` under a secret kept in LAB_STORAGE
# (``portal-secret``, mode 600, made once): the user's id, a CSRF token for the session's forms, and
# when it was issued. It is HttpOnly and SameSite=Lax; the server also refuses it after
# ``SESSION_SECONDS``. A form's hidden ``csrf`` field must equal the session's token (login's
# form: an HMAC of a pre-login cookie's nonce).

SESSION_COOKIE = "lab_session"
LOGIN_COOKIE = "lab_login"
SESSION_SECONDS = 12 * 3600
SECRET_FILE = "portal-secret"  # noqa: S105  (a file name, not a secret)


def portal_secret(storage: Path) -> bytes:
    """The signing secret of the portal's cookies, made once in ``storage``."""
    storage.mkdir(parents=True, exist_ok=True)
    path = storage / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise InfrastructureError(f"{path}: the portal's secret is too short; remove it to make a new one")
    return secret.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def session_cookie(secret: bytes, user_id: int, at: datetime | None = None) -> str:
    """A new session for ``user_id``, with a fresh CSRF token."""
    moment = (at or now()).timestamp()
    payload = _b64(json.dumps({"uid": user_id, "csrf": secrets.token_urlsafe(24), "iat": int(moment),
                               "ms": int(moment * 1000)}).encode())
    return f"{payload}.{_mac(secret, payload)}"


def read_session(secret: bytes, cookie: str | None, at: datetime | None = None) -> dict | None:
    """The session's ``{"uid", "csrf", "iat"}``; None if absent, altered or too old."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int) or not isinstance(data.get("iat"), int):
        return None
    age = (at or now()).timestamp() - data["iat"]
    if not 0 <= age <= SESSION_SECONDS:
        return None
    return data


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf(secret: bytes, nonce: str) -> str:
    """The login form's token: bound to the nonce in the pre-login cookie."""
    return _mac(secret, f"login:{nonce}")
