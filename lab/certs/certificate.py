"""Issuing and verifying certificates.

A certificate is JSON: ``{"certificate": {...content...}, "signature": {...}}``. The signature is
Ed25519 over the canonical form of the content (keys sorted, no spaces, UTF-8), so any change of
any byte of the content breaks it. Verification also checks the expiry and, when given, that an
artifact file is byte for byte one of the certified artifacts (by sha256).

Before any of that, a certificate's structure is checked (``parse``): whatever a file holds, a
malformed one is an ``InputError`` naming the field, never a traceback and never "valid".
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from lab import __version__
from lab.certs.keys import key_id
from lab.errors import InputError
from lab.results.model import SubmissionRef, TargetResult, Verdicts
from lab.submission.load import sha256_file
from lab.validation import problems_of

VALIDITY = timedelta(days=365)  # the default of [lab.policy] certificate_days
OS_FACTS = ("os_id", "os_version", "os_name", "arch", "kernel", "glibc", "package_manager", "snapshot")
FORMAT = "adaptation-lab-certificate/1"
MAX_BYTES = 1 << 20  # a certificate is a few kilobytes; anything this big is not one
MAX_PROBLEMS = 20


def canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def board_basis(target: str, facts: dict[str, str]) -> dict:
    """What a board certificate was issued on: the board's OS as its facts were gathered."""
    return {"board": target, "os": {k: facts[k] for k in OS_FACTS if facts.get(k)}}


def image_basis(image: str, recipe_sha256: str | None) -> dict:
    """What a container certificate was issued on: the image and the hash of its recipe (the one
    ``lab images build`` compares to decide a rebuild), or None for an image only pulled."""
    return {"image": image, "recipe_sha256": recipe_sha256}


def waived_of(result: TargetResult) -> list[dict]:
    return sorted(({"check": c.id, "reason": c.waiver.reason, "reviewer": c.waiver.reviewer,
                    "expires": c.waiver.expires}
                   for c in result.checks if c.outcome == "waived" and c.waiver is not None),
                  key=lambda w: w["check"])


def expiry(now: datetime, days: int, waived: list[dict]) -> datetime:
    """``days`` after issue, and never later than the end of the last day of a waiver it relies on:
    a certificate must not outlive the acceptance of a failure it passed with."""
    end = now + timedelta(days=days)
    for w in waived:
        last = datetime.fromisoformat(w["expires"]).replace(tzinfo=UTC) + timedelta(days=1)
        end = min(end, last)
    return end


def certified_artifacts(sub: SubmissionRef, result: TargetResult) -> list[dict]:
    """The artifacts a target's certificate vouches for: those installed on it (``installed_artifacts``),
    in the submission's order. An artifact the target refused (an ``.rpm`` on an apt target, another
    architecture) was never read there, so it is not certified there. A result written before the
    worker recorded them (``None``) lists every artifact, as certificates did then."""
    installed = None if result.installed_artifacts is None else set(result.installed_artifacts)
    return [{"path": a.path, "sha256": a.sha256} for a in sub.artifacts if installed is None or a.path in installed]


def issue(verdicts: Verdicts, target: str, result: TargetResult, key: Ed25519PrivateKey, lab_name: str,
          now: datetime | None = None, *, days: int = VALIDITY.days, basis: dict | None = None,
          suites_version: str | None = None, sbom: dict | None = None) -> dict:
    """Sign the certificate of ``target``: of the artifacts installed there (``certified_artifacts``;
    ``InputError`` when none was). ``basis`` (``image_basis``/``board_basis``), the suites'
    version and the SBOM (``{"path", "sha256"}``) name what it was issued on; a waived check is
    listed with its waiver."""
    now = now or datetime.now(UTC)
    sub = verdicts.submission
    artifacts = certified_artifacts(sub, result)
    if not artifacts:
        raise InputError("verdicts.json", [f"targets.{target}.installed_artifacts: no artifact of the submission "
                                           "was installed on this target: a certificate would vouch for nothing"])
    waived = waived_of(result)
    content = {
        "format": FORMAT,
        "id": f"{verdicts.run}/{target}",
        "lab": lab_name,
        "product": {"name": sub.name, "version": sub.version},
        "vendor": sub.vendor,
        "artifacts": artifacts,
        "target": {"name": target, "facts": result.facts},
        "verdict": result.verdict,
        "suites": sorted({c.id.split(".")[0] for c in result.checks if c.outcome != "skipped"}),
        "checks": sorted(c.id for c in result.checks if c.outcome == "passed"),
        "harness": {"name": "adaptation-lab", "version": __version__},
        "run": verdicts.run,
        "issued": now.isoformat(timespec="seconds"),
        "expires": expiry(now, days, waived).isoformat(timespec="seconds"),
        "validity_days": days,
    }
    if waived:
        content["waived"] = waived
    if basis is not None:
        content["issued_on"] = basis
    if suites_version:
        content["suites_version"] = suites_version
    if sbom is not None:
        content["sbom"] = sbom
    signature = key.sign(canonical(content))
    return {"certificate": content,
            "signature": {"algorithm": "Ed25519", "key_id": key_id(key.public_key()),
                          "value": base64.b64encode(signature).decode()}}


# --- The structure of a certificate -------------------------------------------------------------


def _iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date, like 2026-11-29T12:03:01+00:00") from None
    return value


def _signature_value(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None
    if len(raw) != 64:
        raise ValueError(f"an Ed25519 signature is 64 bytes, this is {len(raw)}")
    return value


IsoTime = Annotated[StrictStr, AfterValidator(_iso_time)]
Text = Annotated[StrictStr, Field(min_length=1)]


class _Open(BaseModel):
    """Signed content: later formats may add fields, which are kept (and covered by the signature)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class _Closed(BaseModel):
    """Outside the signed content nothing unknown is accepted: it would be an unsigned claim."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductRef(_Open):
    name: Text
    version: Text


class ArtifactEntry(_Open):
    path: Text
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-fA-F]{64}$")]


class TargetRef(_Open):
    name: Text
    facts: dict[str, StrictStr]


class Content(_Open):
    format: Literal["adaptation-lab-certificate/1"]
    id: Text
    product: ProductRef
    vendor: Text
    artifacts: list[ArtifactEntry] = Field(min_length=1)
    target: TargetRef
    issued: IsoTime
    expires: IsoTime


class Signature(_Closed):
    algorithm: Literal["Ed25519"]
    key_id: Annotated[StrictStr, Field(pattern=r"^ed25519:[0-9a-f]{16}$")]
    value: Annotated[StrictStr, AfterValidator(_signature_value)]


class CertificateFile(_Closed):
    certificate: Content
    signature: Signature


@dataclass(frozen=True)
class Parsed:
    """A certificate whose structure is right: the typed view, and the JSON exactly as it was read
    (the signature is checked over that, never over a re-serialised model)."""

    certificate: Content
    signature: Signature
    raw: dict


def when(text: str) -> datetime:
    """An ISO time of a certificate as an aware datetime (a date or a naive time is UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key[:60]!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _json(raw: bytes | str, source: str) -> Any:
    if isinstance(raw, bytes):
        if len(raw) > MAX_BYTES:
            raise InputError(source, [f"more than {MAX_BYTES} bytes: too large to be a certificate"])
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(source, [f"not UTF-8 text (byte {exc.start}): not a certificate"]) from None
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise InputError(source, ["not JSON: nested too deeply"]) from None
    except ValueError as exc:  # JSONDecodeError, a 5,000-digit integer, a duplicate key, NaN
        raise InputError(source, [f"not JSON: {str(exc)[:200]}"]) from None


def parse(data: bytes | str | dict | Any, source: str = "certificate") -> Parsed:
    """Check a certificate's structure (from a file's bytes, JSON text or an already parsed value):
    ``InputError`` naming each wrong field, else the typed certificate and the JSON as read."""
    if isinstance(data, bytes | str):
        data = _json(data, source)
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(data), "a number")
        raise InputError(source, [f"(top level): must be a JSON object with certificate and signature, not {kind}"])
    try:
        model = CertificateFile.model_validate(data)
    except ValidationError as exc:
        problems = [p if len(p) <= 300 else p[:300] + "..." for p in problems_of(exc)]
        extra = len(problems) - MAX_PROBLEMS
        raise InputError(source, problems[:MAX_PROBLEMS] + ([f"... and {extra} more"] if extra > 0 else [])) from None
    try:
        canonical(data["certificate"])
    except UnicodeEncodeError:
        raise InputError(source, ["certificate: holds text that is not valid Unicode (a lone surrogate)"]) from None
    except (TypeError, ValueError) as exc:
        raise InputError(source, [f"certificate: cannot be put in canonical form: {exc}"]) from None
    return Parsed(model.certificate, model.signature, data)


def read(path: Path) -> dict:
    """The certificate in ``path``, its structure checked (``InputError`` otherwise)."""
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # enough to say it is too large, whatever its size
    except FileNotFoundError:
        raise InputError(str(path), ["no such file"]) from None
    except IsADirectoryError:
        raise InputError(str(path), ["is a folder, not a certificate"]) from None
    except OSError as exc:
        raise InputError(str(path), [f"cannot be read: {exc.strerror}"]) from None
    return parse(raw, str(path)).raw


# --- Verification -------------------------------------------------------------------------------


@dataclass
class Verification:
    valid: bool
    problems: list[str]
    content: dict
    signed_by: str = ""            # the key id the certificate names
    trusted: str = ""              # the key id of the key it was checked against
    artifact_checked: bool = False

    @property
    def other_key(self) -> bool:
        return self.signed_by != self.trusted


def verify(data: dict | Parsed, public: Ed25519PublicKey, artifact: Path | None = None,
           now: datetime | None = None) -> Verification:
    """Check a certificate against the trusted key ``public``.

    Signed by another key: that is the problem, and the content is not judged (it may be intact
    and simply another lab's). Same key: the signature must match the content byte for byte.
    Then the expiry, and the artifact's sha256 when one is given.
    """
    cert = data if isinstance(data, Parsed) else parse(data)
    content, sig = cert.raw["certificate"], cert.signature
    trusted = key_id(public)
    problems = []
    if sig.key_id != trusted:
        problems.append(f"signed by key {sig.key_id}, not by the trusted key {trusted}: it was not issued with "
                        "this lab's key (check it with the key of the lab that issued it: --key)")
    else:
        try:
            public.verify(base64.b64decode(sig.value, validate=True), canonical(content))
        except InvalidSignature:
            problems.append("the signature does not match the content: the certificate was altered")
    expires = cert.certificate.expires
    if when(expires) < (now or datetime.now(UTC)):
        problems.append(f"expired on {expires}: it no longer certifies anything (the lab renews a certificate "
                        "by running the product again: lab recertify)")
    if artifact is not None:
        digest = sha256_file(artifact)
        certified = {a.sha256.lower() for a in cert.certificate.artifacts}
        if digest not in certified:
            names = ", ".join(a.path for a in cert.certificate.artifacts)
            problems.append(f"{artifact.name} (sha256 {digest}) is not a certified artifact: this certificate "
                            f"vouches only for {names[:500]} (as installed on {cert.certificate.target.name})")
    return Verification(not problems, problems, content, signed_by=sig.key_id, trusted=trusted,
                        artifact_checked=artifact is not None)
