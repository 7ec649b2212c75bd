"""Run ids: sortable by time, readable by product (``20261129-120301-acme-hello``)."""

from __future__ import annotations

import re
from datetime import datetime


def new_run_id(slug: str, now: datetime | None = None) -> str:
    now = now or datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{re.sub(r'[^a-z0-9.+_-]', '-', slug.lower())}"
