"""The centre's own vulnerability feed over a cell's results.

A lab host's worker has no database: its ``supply.vulnerabilities`` is skipped ("no records").
The service has the feed (``lab vulns import`` into its database), so when a cell's results come
in with the SBOM the worker wrote, the service matches it here and the check says what
``lab run`` would have said, before waivers and the certificate.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from lab.results.model import Check, Outcome, Verdicts, reason_of, reduce
from lab.supply import feed, osv
from lab.supply.stored import SBOM_MAX, sbom_file, subjects

CHECK = "supply.vulnerabilities"


def judged(v: Verdicts, results: Path, engine: Engine, threshold: str) -> Verdicts:
    """``v`` with each target's skipped ``supply.vulnerabilities`` judged against ``engine``'s records
    (unchanged when the feed is empty or the target has no SBOM)."""
    records = feed.records(engine)
    if not records:
        return v
    targets = dict(v.targets)
    for name, result in v.targets.items():
        idx = next((i for i, c in enumerate(result.checks) if c.id == CHECK and c.outcome == Outcome.SKIPPED), None)
        path = sbom_file(results, name)
        if idx is None or not path.is_file() or path.stat().st_size > SBOM_MAX:
            continue
        try:
            found_subjects = [osv.Subject(*s) for s in subjects(path.read_text())]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue  # not an SBOM the lab wrote: the check stays as the worker said (skipped)
        passed, message = feed.judge(osv.match(engine, found_subjects), threshold, records, len(found_subjects))
        checks = list(result.checks)
        checks[idx] = Check(id=CHECK, outcome=Outcome.PASSED if passed else Outcome.FAILED,
                            message=message + " (matched by the service against its feed)",
                            required=checks[idx].required)
        verdict = reduce(checks)
        targets[name] = result.model_copy(update={"checks": checks, "verdict": verdict,
                                                  "reason": reason_of(checks, verdict)})
    return v.model_copy(update={"targets": targets})
