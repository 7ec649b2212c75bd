"""Issuing and verifying certificates.

A certificate is JSON: ``{"certificate": {...content...}, "signature": {...}}``. The signature is
Ed25519 over the canonical form of the content (keys sorted, no spaces, UTF-8), so any change of
any byte of the content breaks it. Verification also checks the expiry and, when given, that an
artifact file is byte for byte one of the certified artifacts (by sha256).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lab import __version__
from lab.certs.keys import key_id
from lab.errors import InputError
from lab.results.model import TargetResult, Verdicts
from lab.submission.load import sha256_file

VALIDITY = timedelta(days=365)
FORMAT = "adaptation-lab-certificate/1"


def canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def issue(verdicts: Verdicts, target: str, result: TargetResult, key: Ed25519PrivateKey, lab_name: str,
          now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    sub = verdicts.submission
    content = {
        "format": FORMAT,
        "id": f"{verdicts.run}/{target}",
        "lab": lab_name,
        "product": {"name": sub.name, "version": sub.version},
        "vendor": sub.vendor,
        "artifacts": [{"path": a.path, "sha256": a.sha256} for a in sub.artifacts],
        "target": {"name": target, "facts": result.facts},
        "verdict": result.verdict,
        "suites": sorted({c.id.split(".")[0] for c in result.checks if c.outcome != "skipped"}),
        "checks": sorted(c.id for c in result.checks if c.outcome == "passed"),
        "harness": {"name": "adaptation-lab", "version": __version__},
        "run": verdicts.run,
        "issued": now.isoformat(timespec="seconds"),
        "expires": (now + VALIDITY).isoformat(timespec="seconds"),
    }
    signature = key.sign(canonical(content))
    return {"certificate": content,
            "signature": {"algorithm": "Ed25519", "key_id": key_id(key.public_key()),
                          "value": base64.b64encode(signature).decode()}}


@dataclass
class Verification:
    valid: bool
    problems: list[str]
    content: dict


def read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(str(path), ["no such file"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), [f"not JSON: {exc}"]) from None
    problems = [f"{field}: missing" for field in ("certificate", "signature") if not isinstance(data.get(field), dict)]
    if not problems:
        problems = [f"signature.{f}: missing" for f in ("key_id", "value") if not data["signature"].get(f)]
    if problems:
        raise InputError(str(path), problems)
    return data


def verify(data: dict, public: Ed25519PublicKey, artifact: Path | None = None,
           now: datetime | None = None) -> Verification:
    content, sig = data["certificate"], data["signature"]
    problems = []
    if sig["key_id"] != key_id(public):
        problems.append(f"signed by key {sig['key_id']}, not by the trusted key {key_id(public)}")
    try:
        public.verify(base64.b64decode(sig["value"], validate=True), canonical(content))
    except (InvalidSignature, ValueError):
        problems.append("the signature does not match the content: the certificate was altered")
    expires = content.get("expires")
    if expires and datetime.fromisoformat(expires) < (now or datetime.now(UTC)):
        problems.append(f"expired on {expires}")
    if artifact is not None:
        digest = sha256_file(artifact)
        certified = {a.get("sha256") for a in content.get("artifacts", [])}
        if digest not in certified:
            problems.append(f"{artifact.name} (sha256 {digest}) is not a certified artifact")
    return Verification(not problems, problems, content)
