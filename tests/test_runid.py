"""Run ids stay unique on the machine: two runs of one product in the same second (a review's runs
removed each other's containers, and the catalogue kept one record of two)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from lab.runid import new_run_id

NOW = datetime(2026, 11, 29, 12, 3, 1)


def test_the_same_second_gives_distinct_ids_the_first_as_always(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: new_run_id("ACME Hello", NOW, claims=tmp_path), range(8)))
    assert len(set(ids)) == 8
    assert "20261129-120301-acme-hello" in ids
    assert sorted(ids)[0] == "20261129-120301-acme-hello"
    assert set(ids) - {"20261129-120301-acme-hello"} == {f"20261129-120301-acme-hello-{n}" for n in range(2, 9)}


def test_claims_older_than_a_day_are_cleared(tmp_path):
    old = tmp_path / "20261101-000000-old"
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    new_run_id("x", NOW, claims=tmp_path)
    assert not old.exists()


def test_without_a_place_to_claim_a_random_suffix_keeps_ids_apart(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    a, b = (new_run_id("x", NOW, claims=blocked / "claims") for _ in range(2))
    assert a != b and a.startswith("20261129-120301-x-")
