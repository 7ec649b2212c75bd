"""``lab report DIR``: the run's Allure results as one self-contained HTML file, and the test
report for people as ``report/report.pdf`` (``lab.report.pdf``).

Allure 3 (npm package ``allure``, pinned in package.json) renders a single file; the analytics
tag it embeds is removed so the report makes no outside request when opened. History is kept
per product in ``reports/history/<product>.jsonl``, so trends work across runs without copying.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from lab.errors import InfrastructureError, InputError
from lab.inventory.model import LabSettings
from lab.report.allure_meta import report_config
from lab.report.allure_ready import ROOT, allure_env, take
from lab.report.allure_visible import make_visible
from lab.report.pdf import lab_settings, write_report
from lab.results.model import Verdicts

ALLURE_TIMEOUT_S = 600
# No leading \s*: the engine would try it at every one of the file's millions of positions (0.5 s -> 0.02 s).
ANALYTICS = [re.compile(r'<script[^>]*src="https://www\.googletagmanager\.com/[^"]*"[^>]*>\s*</script>'),
             re.compile(r"<script>\s*window\.dataLayer[\s\S]*?</script>")]


def allure_command() -> list[str]:
    local = ROOT / "node_modules/.bin/allure"
    if not local.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise InfrastructureError("rendering the report needs Node.js and npm: run ./labw setup "
                                      "(or apt-get install nodejs npm)")
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise InfrastructureError(f"npm ci failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return [str(local)]


def strip_analytics(html: str) -> str:
    for pattern in ANALYTICS:
        html = pattern.sub("", html)
    return html


def history_of(run_dir: Path, reports: Path | None = None) -> Path:
    """Where a run's report keeps its product's history (Allure's trend across runs): the lab's
    ``reports/history`` for a run in the lab's ``reports/`` folder (``reports``: that folder; default
    ./reports), else the run's own folder, so that a run written elsewhere (``--output``) writes
    nothing outside it."""
    run_dir, reports = Path(run_dir).resolve(), Path(reports or "reports").resolve()
    return reports / "history" if run_dir.is_relative_to(reports) else run_dir / "history"


def render(run_dir: Path, history_dir: Path | None = None, verdicts: Verdicts | None = None,
           lab: LabSettings | None = None, before_pdf: Callable[[], object] | None = None) -> Path:
    """The report of a run; ``verdicts`` from memory when the caller has them (``lab run``), else
    read from the folder (``lab report DIR``). ``lab``: the inventory's ``[lab]`` (the centre's name
    and languages of the PDF); without it, that of ./targets.toml when it loads, else the defaults.
    ``before_pdf``: what the PDF shows that Allure's report does not (``lab run``'s certificates),
    made once Allure's generator is under way."""
    run_dir = Path(run_dir).resolve()  # Allure runs from the project folder
    results = run_dir / "allure-results"
    path = run_dir / "verdicts.json"
    if not results.is_dir() or (verdicts is None and not path.exists()):
        raise InputError(str(run_dir), ["not a run folder: it needs verdicts.json and allure-results/"])
    if verdicts is None:
        verdicts = Verdicts.model_validate_json(path.read_text())
    product, version, run_id = verdicts.submission.name, verdicts.submission.version, verdicts.run
    # The first line a reader sees: each target's verdict, not a pass percentage.
    outcome = ", ".join(f"{name} {r.verdict.upper()}" for name, r in verdicts.targets.items())
    history_dir = Path(history_dir or history_of(run_dir))
    history_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / "report"
    make_visible(results)  # a vendor's hidden characters written out, never obeyed, in Allure's pages
    config = run_dir / ".allurerc.json"
    config.write_text(json.dumps(report_config(), indent=2))
    args = ["awesome", str(results), "-o", str(out), "--single-file", "--config", str(config),
            "--report-name", f"{product} {version}: {outcome} (run {run_id})", "--history-path",
            str((history_dir / f"{product}.jsonl").resolve()), "--group-by", "parentSuite,suite"]
    # Allure's generator (Node.js, its own process) and the PDF (WeasyPrint, in this one) read the
    # same finished results and nothing of each other: the PDF is laid out while Allure works. The
    # generator may have been started ahead, its modules loaded (lab.report.allure_ready).
    ready = take()
    if ready is not None and not ready.ask(args):
        ready.discard()
        ready = None
    with ready.log if ready is not None else tempfile.TemporaryFile() as log:
        proc = ready.proc if ready is not None else subprocess.Popen(
            [*allure_command(), *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=allure_env())
        pdf_error = None
        try:
            if before_pdf is not None:
                before_pdf()  # its failure is its own, never the PDF's
            try:  # a failing Allure does not cost the people's report, nor a failing PDF the Allure one
                write_report(run_dir, verdicts, lab if lab is not None else lab_settings())
            except InfrastructureError as exc:
                pdf_error = exc
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        try:
            returncode = proc.wait(timeout=ALLURE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            returncode = None
        log.seek(0, 2)
        log.seek(max(0, log.tell() - 4000))
        printed = log.read().decode("utf-8", "replace")
    index = out / "index.html"
    if returncode != 0 or not index.exists():
        how = f"timed out after {ALLURE_TIMEOUT_S} s" if returncode is None else returncode
        raise InfrastructureError(f"allure failed ({how}):\n{printed}")
    index.write_text(strip_analytics(index.read_text()))
    if pdf_error is not None:
        raise pdf_error
    return index
