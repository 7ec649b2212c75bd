"""The end of a run, from memory: certificates for the targets that passed, the report, and the
catalogue record. The command line and (later) the service call the same plan -> execute ->
finish path; each part that fails is said, and never stops the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lab.certs.issue import issue_certificates
from lab.errors import InfrastructureError, InputError
from lab.inventory.load import LoadedInventory
from lab.results.model import Verdicts
from lab.run.plan import Plan


@dataclass
class Finished:
    verdicts: Verdicts
    certificates: dict[str, dict] = field(default_factory=dict)  # target -> the signed document
    report: Path | None = None
    report_error: str = ""
    recorded: bool = False
    record_error: str = ""


def finish(plan: Plan, inv: LoadedInventory, verdicts: Verdicts, *, report: bool = True,
           catalogue: str | None = None, history: Path | None = None) -> Finished:
    done = Finished(verdicts, issue_certificates(verdicts, plan.out, inv.model.lab,
                                                 only={t.name for t in plan.targets}))
    if report:
        from lab.report.render import render

        try:
            done.report = render(plan.out, history or inv.root / "reports" / "history", verdicts)
        except InfrastructureError as exc:  # the verdicts stand; only their rendering failed
            done.report_error = str(exc)
    from lab.catalogue.db import open_for
    from lab.catalogue.record import record_run

    try:
        record_run(open_for(inv, catalogue), plan.out, verdicts, done.certificates)
        done.recorded = True
    except (InfrastructureError, InputError) as exc:
        done.record_error = str(exc)
    return done
