"""`lab run` starts its workers' server before the command line's own imports; nothing else does."""

from __future__ import annotations

import pytest

from lab.__main__ import runs_workers


@pytest.mark.parametrize(("args", "starts"), [
    (["run", "examples/acme-calc"], True),
    (["run", "examples/acme-calc", "--targets", "debian12-x86_64", "-j", "2"], True),
    (["run", "--rerun-broken", "reports/runs/x"], True),
    (["run", "examples/acme-calc", "--dry-run"], False),
    (["run", "--help"], False),
    (["runs"], False),
    (["validate", "run"], False),
    (["--help", "run"], False),
    ([], False),
])
def test_only_a_run_that_starts_workers_starts_their_server(args, starts):
    assert runs_workers(args) is starts
