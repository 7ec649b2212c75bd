"""sha256 digests, each kind computed one way, so two modules that must agree on a digest (a
cache key, a stored credential, a recorded checksum) cannot drift apart."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Of the text's UTF-8 bytes: how secrets and credentials are stored (never the text itself)."""
    return sha256_bytes(text.encode())


def sha256_parts(*parts: str) -> str:
    """Of several strings, each ended by a NUL, so ``("ab", "c")`` and ``("a", "bc")`` differ: the
    key of whatever the parts describe (a cache entry, an image recipe)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """Read in blocks: artifacts and packages can be larger than memory allows at once."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
