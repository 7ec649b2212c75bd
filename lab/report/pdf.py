"""The run's test report for people: ``DIR/report/report.pdf`` (and the same page as
``DIR/report/report.html``), laid out like the report a testing centre issues.

A cover (the centre, the report number = the run id, the product, its version and vendor, the
dates, the conclusion per target), the test environment of each target (from the facts gathered
on it, and the harness's tool versions), the test items grouped by the quality characteristics of
GB/T 25000.51 (each check's characteristic comes from the suite registry), waivers, screenshots
of desktop checks, the SBOM summary, and the certificates with how to verify them (the command,
and the buyers' site address as a QR code).

One template (``lab/report/templates/report.html.j2``) serves the web page and the PDF (its print
stylesheet); WeasyPrint renders the PDF with Debian's Noto CJK fonts. The report is in the
default language (the first of ``[lab] languages``). Everything in it that came from the vendor or
its tools (names, reasons, screenshots) is shown as it is, escaped, and capped in size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from jinja2 import Environment, PackageLoader

from lab import i18n
from lab.catalogue.publish import plain_reason
from lab.certs.certificate import canonical
from lab.errors import InfrastructureError
from lab.i18n import N_
from lab.inventory.model import LabSettings
from lab.results.model import Check, Outcome, SubmissionRef, TargetResult, Verdicts
from lab.suite import registry
from lab.text import finalize, slug_of

# finalize: every value shown has its hidden characters written out (a bidi override in a vendor's
# file name or message would otherwise reorder what the reader sees: lab.text.visible)
ENV = i18n.install(Environment(loader=PackageLoader("lab", "report/templates"), autoescape=True, finalize=finalize))
ENV.filters["yes_no"] = i18n.yes_no
ENV.filters["plain_reason"] = plain_reason

# GB/T 25000.51 characteristics in the order the report lists them (the registry's constants).
ORDER = [registry.CO_EXISTENCE, registry.INTEROPERABILITY, registry.INSTALLABILITY, registry.ADAPTABILITY,
         registry.REPLACEABILITY, registry.RELIABILITY, registry.SECURITY, registry.PERFORMANCE,
         registry.FUNCTIONAL, registry.USABILITY]
CONCLUSIONS = {"passed": N_("passed"), "failed": N_("failed"), "broken": N_("broken"), "skipped": N_("skipped"),
               "passed with waivers": N_("passed with waivers")}
# The environment a target was tested in, from its facts, in the order a reader looks for them.
ENVIRONMENT = ("os_name", "os_version", "kernel", "glibc", "arch", "emulated", "package_manager", "db_server",
               "db_version", "db_profiles", "desktop", "desktop_version", "display", "locales", "snapshot",
               "memory_limit", "cpu_limit", "pids_limit")
MESSAGE_MOST = 1200        # characters of a check's message shown (a tool's output may be long)
SCREENSHOTS_MOST = 12      # per target
SCREENSHOT_BYTES_MOST = 4 << 20
SBOM_BYTES_MOST = 64 << 20
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Group:
    characteristic: str
    checks: list[Check] = field(default_factory=list)


@dataclass
class TargetPage:
    name: str
    result: TargetResult
    conclusion: str
    environment: list[tuple[str, str]]
    groups: list[Group]
    waived: list[Check]
    not_passed: list[Check]
    screenshots: list[tuple[str, str]]        # (file name, data: URI)
    sbom: dict | None
    certificate: dict | None


def conclusion(result: TargetResult) -> str:
    """passed / failed / broken / skipped, and *passed with waivers* when a waiver made it pass."""
    if result.verdict == Outcome.PASSED and any(c.outcome == Outcome.WAIVED for c in result.checks):
        return "passed with waivers"
    return result.verdict.value


def grouped(checks: list[Check]) -> list[Group]:
    """The checks by GB/T 25000.51 characteristic (the registry's), in ``ORDER``, then any other."""
    groups: dict[str, Group] = {}
    for check in checks:
        name = registry.characteristic(check.id)
        groups.setdefault(name, Group(name)).checks.append(check)
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(groups.values(), key=lambda g: (rank.get(g.characteristic, len(ORDER)), g.characteristic))


def environment(facts: dict[str, str]) -> list[tuple[str, str]]:
    """(fact name, value) of what the target was, known facts first; empty ones left out."""
    shown = [(k, facts[k]) for k in ENVIRONMENT if facts.get(k) not in (None, "", "None")]
    shown += [(k, v) for k, v in sorted(facts.items()) if k not in ENVIRONMENT and v not in (None, "", "None")]
    return shown


def screenshots(run_dir: Path, target: str) -> list[tuple[str, str]]:
    """The desktop checks' PNG screenshots of a target, as (caption, data: URI): those the desktop
    suite listed (``lab.desktop.evidence``, captioned with the window's title), else whatever PNG
    files are in ``DIR/screenshots/<target>/`` (by file name); real PNGs only, capped."""
    from lab.desktop.evidence import run_screenshots

    folder = run_dir / "screenshots" / target
    if not folder.is_dir() or folder.is_symlink():
        return []
    listed = [(shot["path"], f"{shot['path'].name}: {shot['caption']}" if shot["caption"] else shot["path"].name)
              for shot in run_screenshots(run_dir, target)]
    found = listed or [(path, path.name) for path in sorted(folder.iterdir()) if path.suffix.lower() == ".png"]
    shots = []
    for path, caption in found:
        if len(shots) >= SCREENSHOTS_MOST:
            break
        if path.is_symlink() or not path.is_file() or path.stat().st_size > SCREENSHOT_BYTES_MOST:
            continue
        data = path.read_bytes()
        if data.startswith(PNG):
            shots.append((caption, "data:image/png;base64," + base64.b64encode(data).decode()))
    return shots


def sbom_summary(run_dir: Path, target: str) -> dict | None:
    """``DIR/sbom/<target>.cdx.json``: how many components, in which format; None without one."""
    path = run_dir / "sbom" / f"{target}.cdx.json"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > SBOM_BYTES_MOST:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return {"file": f"sbom/{path.name}", "components": None, "format": ""}
    components = doc.get("components") if isinstance(doc, dict) else None
    return {"file": f"sbom/{path.name}", "components": len(components) if isinstance(components, list) else 0,
            "format": f"CycloneDX {doc.get('specVersion', '')}".strip() if isinstance(doc, dict) else ""}


def certificate_of(run_dir: Path, target: str, site_url: str | None) -> dict | None:
    """The certificate written for a target (``lab.certs.issue``): its id, the SHA-256 of the signed
    content (its fingerprint), the signing key's id, the artifacts it certifies (those installed on
    that target), and where a buyer verifies it."""
    path = run_dir / "certificates" / f"{target}.json"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        content, signature = doc["certificate"], doc["signature"]
    except (ValueError, KeyError, TypeError):
        return None
    url = None
    if site_url:
        url = f"{site_url.rstrip('/')}/certificates/{slug_of(str(content.get('run', '')))}/{slug_of(target)}.html"
    return {"id": content.get("id", ""), "file": f"certificates/{path.name}",
            "fingerprint": hashlib.sha256(canonical(content)).hexdigest(),
            "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "key_id": signature.get("key_id", ""), "issued": content.get("issued", ""),
            "expires": content.get("expires", ""), "url": url, "qr": qr_data_uri(url) if url else None,
            "artifacts": [a for a in content.get("artifacts") or [] if isinstance(a, dict)]}  # those installed there


def qr_data_uri(text: str) -> str:
    import segno

    return segno.make(text, error="m").svg_data_uri(scale=3, border=2)


def tool_versions(verdicts: Verdicts, facts: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The harness and its tools: the lab's version from the run, pytest and testinfra as installed
    with the lab, the container engine when it answers (a board's run has none to ask)."""
    tools = [("adaptation-lab", verdicts.harness or _version("adaptation-lab"))]
    tools += [(name, _version(dist)) for name, dist in (("pytest", "pytest"), ("testinfra", "pytest-testinfra"),
                                                        ("WeasyPrint", "weasyprint"))]
    recorded = next((f.get("container_engine") for f in facts if f.get("container_engine")), None)
    tools.append(("Docker Engine", recorded or _docker_version()))
    return [(n, v) for n, v in tools if v]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _docker_version() -> str:
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return str(client.version().get("Version", ""))
        finally:
            client.close()
    except Exception:  # no engine here (a board-only lab): the report says nothing about it
        return ""


def lab_settings(inventory: Path | None = None) -> LabSettings:
    """``[lab]`` of the inventory (default: the service's ``LAB_INVENTORY``, else ./targets.toml)
    when there is one that loads, else the defaults."""
    from lab.errors import InputError
    from lab.inventory.load import load_inventory

    if inventory is None:
        from lab.settings import Settings

        inventory = Settings().inventory
    if inventory.is_file():
        try:
            return load_inventory(inventory).model.lab
        except InputError:
            pass
    return LabSettings()


def site_address(lab: LabSettings | None = None) -> str | None:
    """Where buyers find the published site: ``[lab] site_url``, ``LAB_SITE_URL``, else the service's
    address unless that is this machine's own (127.0.0.1, localhost): a buyer's phone cannot reach
    it, so the PDF then prints no link or QR code, only the fingerprint to verify offline (a buyer
    found a QR code leading to 127.0.0.1)."""
    if lab is not None and lab.site_url:
        return lab.site_url
    explicit = os.environ.get("LAB_SITE_URL", "").strip()
    if explicit:
        return explicit
    from urllib.parse import urlsplit

    from lab.loopback import is_loopback
    from lab.settings import Settings

    url = Settings().service_url
    host = urlsplit(url).hostname or ""
    return None if not host or is_loopback(host) else url


def _target_page(run_dir: Path, name: str, result: TargetResult, site_url: str | None) -> TargetPage:
    checks = result.checks
    return TargetPage(
        name=name, result=result, conclusion=conclusion(result), environment=environment(result.facts),
        groups=grouped(checks), waived=[c for c in checks if c.waiver is not None],
        not_passed=[c for c in checks if c.outcome in (Outcome.FAILED, Outcome.BROKEN) and c.required],
        screenshots=screenshots(run_dir, name), sbom=sbom_summary(run_dir, name),
        certificate=certificate_of(run_dir, name, site_url))


def report_html(run_dir: Path, verdicts: Verdicts, lab: LabSettings | None = None, lang: str | None = None,
                site_url: str | None = None) -> str:
    """The report as one self-contained HTML page (images inline), in ``lang`` (default: the first of
    the lab's languages)."""
    lab = lab or LabSettings()
    lang = lang or lab.languages[0]
    pages = [_target_page(run_dir, name, result, site_url) for name, result in verdicts.targets.items()]
    return i18n.render(ENV, "report.html.j2", lang, lab=lab.name, v=verdicts, s=verdicts.submission, pages=pages,
                       tools=tool_versions(verdicts, [p.result.facts for p in pages]), site_url=site_url,
                       message_most=MESSAGE_MOST, order=ORDER)


def write_report(run_dir: Path, verdicts: Verdicts, lab: LabSettings | None = None,
                 site_url: str | None = None) -> Path:
    """Write ``report/report.html`` and ``report/report.pdf``; return the PDF's path."""
    from lab.report.weasy import HTML, data_only_fetcher  # imports Pango: only when a PDF is made

    run_dir = Path(run_dir)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    page = report_html(run_dir, verdicts, lab, site_url=site_url if site_url is not None else site_address(lab))
    try:
        with _LAYING_OUT:
            pdf = HTML(string=page, base_url=str(out), url_fetcher=data_only_fetcher()).write_pdf()
    except Exception as exc:  # Pango/fonts missing, or a rendering bug: the lab's fault, said plainly
        raise InfrastructureError(f"rendering {out / 'report.pdf'} failed: {exc}") from exc
    _write_bytes(out / "report.html", page.encode("utf-8"))
    _write_bytes(out / "report.pdf", pdf)
    return out / "report.pdf"


# One PDF laid out at a time in a process: WeasyPrint's font machinery is not known to be safe across
# threads, and the warm-up runs in a background one (a run's report waits for it, a second at most).
_LAYING_OUT = threading.Lock()


def warm_up(lab: LabSettings | None = None) -> None:
    """Lay out a small report of the same template in memory, nothing written: the first PDF a
    process makes pays for WeasyPrint's caches (the fonts' faces, the stylesheet's selectors) a third
    of a second more than the next. ``lab run`` does this while the workers run."""
    from lab.report.weasy import HTML, data_only_fetcher

    product = SubmissionRef(name="warm-up", version="0", vendor="lab", artifacts=[])
    sample = Verdicts(run="warm-up", submission=product,
                      targets={"warm-up": TargetResult(
                          verdict=Outcome.FAILED, reason="service.ready: 示例", facts={"arch": "x86_64"},
                          checks=[Check(id="install.package", outcome=Outcome.PASSED, message="示例 sample"),
                                  Check(id="service.ready", outcome=Outcome.FAILED, message="示例\nsample")])})
    with _LAYING_OUT, tempfile.TemporaryDirectory(prefix="lab-warm-up-") as folder:
        page = report_html(Path(folder), sample, lab)
        HTML(string=page, base_url=folder, url_fetcher=data_only_fetcher()).write_pdf()


def _write_bytes(path: Path, data: bytes) -> None:
    """All or nothing: a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
