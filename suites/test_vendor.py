"""Suite `vendor`: the submission's own pytest/testinfra tests, with `host` bound to the target.

They run in the lab's sandboxed runner container, not on the lab's host; each of them becomes a
check `vendor.<test name>` of its own.
"""

from __future__ import annotations

import pytest

from lab.errors import NotApplicable
from lab.suite.database import database_env
from lab.suite.vendor import run_vendor_tests


@pytest.mark.check("vendor.tests")
def test_the_vendors_own_tests_pass(lab, target, installed):
    spec = lab.submission.model.tests
    if spec is None:
        raise NotApplicable("the submission has no [tests]")
    limits = lab.limits()
    results = run_vendor_tests(lab.inventory, lab.opts.run_id, lab.submission.root, spec.paths, target.transport,
                               limits["command_timeout"], limits["install_timeout"], lab.logs / "vendor-tests.log",
                               env=database_env(lab))
    if not results:
        raise NotApplicable(f"no tests were collected from {', '.join(spec.paths)}")
    for r in results:
        lab.add_check(f"vendor.{r.name}", r.outcome, r.message, r.duration_s)
    failed = [f"{r.name}: {r.message.strip().splitlines()[0] if r.message.strip() else 'failed'}"
              for r in results if r.outcome == "failed"]
    assert not failed, f"{len(failed)} of {len(results)} vendor test(s) failed:\n" + "\n".join(failed)
    lab.note(f"{len(results)} vendor test(s) passed")
