"""Fetching the claimed submission's archive, checked against the sha256 the service recorded."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import httpx

from lab.centre.cellrun.client import BACKOFF_MAX_S, CONNECT_TRIES, Service, bearer, detail
from lab.errors import InfrastructureError

ARCHIVE_NAME = re.compile(r"submission\.(tar\.gz|tgz|zip)")


def download(api: Service, claimed: dict, credential: str, into: Path, limit: int) -> Path:
    """The submission's archive, checked against its sha256; retried while the API is unreachable."""
    delay = 1.0
    for i in range(CONNECT_TRIES + 2):
        try:
            return _download_once(api, claimed, credential, into, limit)
        except httpx.TransportError as exc:
            if i == CONNECT_TRIES + 1:
                raise InfrastructureError(f"the submission could not be downloaded: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
    raise AssertionError("unreachable")


def _download_once(api: Service, claimed: dict, credential: str, into: Path, limit: int) -> Path:
    sub = claimed["submission"]
    name = sub.get("archive_name") or ""
    if not ARCHIVE_NAME.fullmatch(name):
        raise InfrastructureError(f"the service has no archive for submission {sub['id']}")
    path = into / name
    digest, size = hashlib.sha256(), 0  # as it streams in: the archive may be larger than memory
    with api.http.stream("GET", claimed["download"], headers=bearer(credential)) as r:
        if r.status_code != 200:
            r.read()
            raise InfrastructureError(f"the submission's download failed: HTTP {r.status_code}: {detail(r)}")
        with path.open("wb") as fh:
            for chunk in r.iter_bytes(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InfrastructureError(f"the submission's download is larger than {limit} bytes")
                digest.update(chunk)
                fh.write(chunk)
    if sub.get("archive_sha256") and digest.hexdigest() != sub["archive_sha256"]:
        raise InfrastructureError(f"the submission's download has sha256 {digest.hexdigest()}, "
                                  f"not {sub['archive_sha256']}")
    return path
