"""Suite `vendor`: the submission's own pytest/testinfra tests, with `host` bound to the target.

They run in the lab's sandboxed runner container, not on the lab's host; each of them becomes a
check `vendor.<file>::<test>` of its own, timed by the lab. `vendor.tests` is the lab's own
verdict on the run: it fails when a vendor test fails, and when the run as a whole does (it hangs,
the runner dies, or it sends a line the lab refuses; see `lab.suite.vendor_protocol`).
"""

from __future__ import annotations

import pytest

from lab.errors import NotApplicable
from lab.reasons import VENDOR_TESTS_FAILED
from lab.suite.applicable import NO_TESTS
from lab.suite.database import database_env
from lab.suite.vendor import VendorTestsFailed, run_vendor_tests


def _record(lab, results) -> None:
    for r in results:
        lab.add_check(r.check_id, r.outcome, r.message, r.duration_s)


@pytest.mark.check("vendor.tests")
def test_the_vendors_own_tests_pass(lab, target, installed):
    spec = lab.submission.model.tests
    if spec is None:
        raise NotApplicable(NO_TESTS)
    readiness = lab.state.readiness
    if lab.submission.model.service is not None and readiness is not None and not readiness.ready:
        # they run "while your declared service is up and ready" (docs/submission.md): against a
        # service that never started, each would only fail again for the reason already given
        raise NotApplicable("needs a ready service (service.ready failed)")
    limits = lab.limits()
    started, lab.state.runner = lab.state.runner, None  # taken: the run removes it
    try:
        run = run_vendor_tests(lab.inventory, lab.opts.run_id, lab.submission.root, spec.paths, target.transport,
                               limits["command_timeout"], limits["install_timeout"], lab.logs / "vendor-tests.log",
                               env=database_env(lab), started=started)
    except VendorTestsFailed as exc:
        _record(lab, exc.results)
        raise
    if not run.collected:
        raise NotApplicable(f"no tests were collected from {', '.join(spec.paths)}")
    _record(lab, run.results)
    failed = [f"{r.check_id}: {r.message.strip().splitlines()[0] if r.message.strip() else 'failed'}"
              for r in run.results if r.outcome == "failed"]
    assert not failed, VENDOR_TESTS_FAILED.say(failed=len(failed), total=len(run.results),
                                               said="\n" + "\n".join(failed))
    skipped = sum(r.outcome == "skipped" for r in run.results)
    lab.note(f"{len(run.results) - skipped} vendor test(s) passed" + (f", {skipped} skipped" if skipped else ""))
