"""The lab's Ed25519 signing key: created on first use, kept outside reports/, never copied into
results. Its public half is what buyers verify against."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lab.errors import InputError

ENV = "LAB_SIGNING_KEY"


def default_key_path() -> Path:
    """``$LAB_SIGNING_KEY``, else ``~/.local/share/adaptation-lab/signing-key.pem``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    return Path.home() / ".local/share/adaptation-lab/signing-key.pem"


def key_path(configured: str | None) -> Path:
    """``[lab] signing_key`` when the inventory sets it, else the default."""
    return Path(configured).expanduser() if configured else default_key_path()


def load_or_create(path: Path | None = None) -> Ed25519PrivateKey:
    path = path or default_key_path()
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(str(path), ["not an Ed25519 private key"])
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), [f"cannot read the key: {exc.strerror}"]) from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:  # a private key file works too: its public half is used
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except ValueError:
            raise InputError(str(path), ["not a PEM Ed25519 key"]) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(str(path), ["not an Ed25519 key"])
    return key
