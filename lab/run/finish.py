"""The end of a run, from memory: certificates for the targets that passed, the report, and the
catalogue record. The command line and (later) the service call the same plan -> execute ->
finish path; each part that fails is said, and never stops the others."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.certs.issue import issue_certificates
from lab.errors import InfrastructureError, InputError
from lab.inventory.load import LoadedInventory
from lab.inventory.model import LabSettings
from lab.results.model import Verdicts
from lab.run.plan import Plan
from lab.waivers import Applied, LoadedWaivers


@dataclass
class Finished:
    verdicts: Verdicts
    certificates: dict[str, dict] = field(default_factory=dict)  # target -> the signed document
    report: Path | None = None
    report_error: str = ""
    recorded: bool = False
    record_error: str = ""
    waivers: Applied | None = None  # what the lab's waivers accepted (and which had expired)


# A worker past its install: ...
QUIET = ('"install.idempotent"', '"finished"')
# ... or, where it watches its service, past the checks run during the watch (the rest is waiting),
# past a watch that did not happen, or done.
QUIET_WATCHING = ('"watch-waiting"', '"stability.uptime"', '"finished"')
QUIET_WAIT_S = 300.0


def warm_up(report: bool, languages: list[str] | tuple[str, ...] = (), lab: LabSettings | None = None,
            logs: Path | None = None, workers: int = 1, watching: bool = False,
            targets: list[str] | None = None) -> threading.Event:
    """Import the report's renderer (WeasyPrint and its fonts' machinery: a second or more), and the
    Docker client the run's clean-up uses, in the background while the workers run, so neither the
    workers' start nor the end of the run waits for them; the certificates' template is compiled,
    the languages' catalogues read and a small PDF laid out meanwhile too, and Allure's generator
    started, its modules loaded by the time the results are complete (``lab.report.allure_ready``).

    With the run's ``logs``, all of it waits until every one of its ``workers`` is past its install
    (their events say so): on two cores it took CPU from the workers' start and apt's install, as
    much as it saved at the end (in a three-target matrix, from the two installs still under way
    when the first ended). ``watching``: the workers watch their service, and it waits until as
    many of them as run at once have only the rest of their watch to wait (``watch-waiting``):
    begun after the install, it took the second core from the checks between the install and the
    watch, all on the run's way. ``targets``: the run's (a rerun's logs folder also holds those of
    the targets it keeps and of the earlier attempts, done long ago).

    Returns the event to set once the workers are done: what has not begun by then (a worker that
    died before its watch) is left to the report itself, which loads what it needs anyway, and no
    generator or sample PDF is started beside it."""
    from lab.warmup import import_in_background

    over = threading.Event()

    def when_quiet() -> None:
        if logs is not None:
            _wait_for_quiet(logs, workers, QUIET_WATCHING if watching else QUIET, targets, over)
        if report and not over.is_set():
            from lab.report.allure_ready import prestart

            prestart()

    modules = ("lab.certs.render", *(("lab.report.render", "lab.report.weasy", "segno") if report else ()))
    import_in_background(*modules, "lab.provision.gc", first=when_quiet,
                         then=lambda: _templates(report and not over.is_set(), languages, lab))
    return over


def _wait_for_quiet(logs: Path, workers: int = 1, markers: tuple[str, ...] = QUIET,
                    targets: list[str] | None = None, over: threading.Event | None = None) -> None:
    deadline = time.monotonic() + QUIET_WAIT_S
    while time.monotonic() < deadline and not (over is not None and over.is_set()):
        quiet = 0
        for events in ([logs / t / "events.jsonl" for t in targets] if targets else logs.glob("*/events.jsonl")):
            try:
                text = events.read_text(errors="replace")
            except OSError:
                continue
            quiet += any(marker in text for marker in markers)
        if quiet >= workers:
            return
        time.sleep(0.1)


def _templates(report: bool, languages, lab: LabSettings | None) -> None:
    from lab import i18n
    from lab.certs.render import ENV as CERTIFICATES

    for lang in languages:
        i18n.translations(lang)
    CERTIFICATES.get_template("certificate.html.j2")
    if report:
        from lab.report.pdf import warm_up as pdf_warm_up

        pdf_warm_up(lab)


def waive(plan: Plan, verdicts: Verdicts, waivers: LoadedWaivers) -> Applied:
    """The lab's waivers over the merged results, before anything is signed, rendered or recorded:
    ``verdicts.json`` and the Allure results are rewritten when a check became waived."""
    from lab.results.write import write_atomic
    from lab.waivers import apply_waivers
    from lab.waivers.report import mark_allure

    applied = apply_waivers(verdicts, waivers)
    if applied.verdicts != verdicts:
        write_atomic(plan.out / "verdicts.json", applied.verdicts.dump())
        mark_allure(plan.out / "allure-results", applied)
    return applied


def finish(plan: Plan, inv: LoadedInventory, verdicts: Verdicts, *, report: bool = True,
           catalogue: str | None = None, history: Path | None = None,
           waivers: LoadedWaivers | None = None, recertifies: str | None = None,
           recertify_reason: str | None = None) -> Finished:
    applied = waive(plan, verdicts, waivers) if waivers is not None else None
    verdicts = applied.verdicts if applied is not None else verdicts
    done = Finished(verdicts)
    done.waivers = applied
    import threading

    unexpected: list[BaseException] = []
    recorders: list[threading.Thread] = []
    certifying: list[BaseException | None] = []  # attempted once; its failure, if it failed

    def record() -> None:
        from lab.catalogue.db import open_for
        from lab.catalogue.record import record_run

        try:
            record_run(open_for(inv, catalogue), plan.out, verdicts, done.certificates,
                       archive=plan.submission, recertifies=recertifies, recertify_reason=recertify_reason)
            done.recorded = True
        except (InfrastructureError, InputError) as exc:
            done.record_error = str(exc)
        except BaseException as exc:  # raised in the caller's thread, as before
            unexpected.append(exc)

    def certify() -> None:
        """The certificates, then the catalogue record (which holds them) while the report renders:
        the report and the record read the same finished results and nothing of each other."""
        if certifying:  # never signed twice, also after a failure half-way
            return
        certifying.append(None)
        try:
            done.certificates = issue_certificates(verdicts, plan.out, inv.model.lab,
                                                   only={t.name for t in plan.targets}, inventory=inv)
        except BaseException as exc:
            certifying[0] = exc
            raise
        recorders.append(threading.Thread(target=record, name="record"))
        recorders[0].start()

    try:
        if report:
            from lab.report.render import history_of, render

            try:  # Allure's generator starts first: it needs no certificate; the PDF shows them
                done.report = render(plan.out, history or history_of(plan.out, inv.root / "reports"), verdicts,
                                     lab=inv.model.lab, before_pdf=certify)
            except InfrastructureError as exc:  # the verdicts stand; only their rendering failed
                if certifying and exc is certifying[0]:
                    raise  # the certificates' failure, not the report's: as without a report
                done.report_error = str(exc)
    finally:
        try:
            certify()  # without a report, or when its rendering stopped before the PDF
        finally:
            for recorder in recorders:
                recorder.join()
    if unexpected:
        raise unexpected[0]
    return done
