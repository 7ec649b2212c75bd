"""Run ids: sortable by time, readable by product (``20261129-120301-acme-hello``), and unique on
this machine: two runs of one product started in the same second get ``...-acme-hello`` and
``...-acme-hello-2``.

The id labels a run's containers (``lab gc --run``, and a worker's end removes its run's), names
its catalogue record and its report's history: a review started the same product twice at once,
one run's end removed the other's live containers (broken) and the catalogue kept one record of
two. Each id is claimed by creating a marker folder (``mkdir`` is atomic) in the machine's
temporary folder; markers older than a day are cleared as ids are claimed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path

CLAIMS = Path(tempfile.gettempdir()) / "adaptation-lab-run-ids"
KEEP_S = 24 * 3600


def new_run_id(slug: str, now: datetime | None = None, claims: Path | None = None) -> str:
    base = f"{(now or datetime.now()):%Y%m%d-%H%M%S}-{re.sub(r'[^a-z0-9.+_-]', '-', slug.lower())}"
    folder = claims or CLAIMS
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                folder.chmod(0o1777)  # like /tmp itself: every user's runs claim ids there
    except OSError:  # nowhere to claim it: a random suffix keeps it apart instead
        return f"{base}-{secrets.token_hex(3)}"
    _clear_old(folder)
    for n in range(1, 100):
        run_id = base if n == 1 else f"{base}-{n}"
        try:
            (folder / run_id).mkdir()
            return run_id
        except FileExistsError:
            continue
        except OSError:
            break
    return f"{base}-{secrets.token_hex(3)}"


def _clear_old(folder: Path) -> None:
    cutoff = time.time() - KEEP_S
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.rmdir(entry.path)
