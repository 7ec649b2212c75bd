"""Headless Chromium (Debian's) for the tests: a page's rendered DOM, a screenshot, and the
URLs it asked for. All traffic goes to a closed port on 127.0.0.1, so nothing leaves the machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

# Chromium's own services (updates, accounts, time): requests the browser makes, not the page.
BROWSER_OWN = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)(/|$)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync",
         "--disable-component-update", "--no-first-run", "--disable-quic", "--no-pings", "--disable-extensions",
         "--disable-default-apps", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is needed for the browser tests (./labw test installs it)"
    return path


def render(page: Path, screenshot: Path | None = None, size: str = "1400,900", budget_ms: int = 10000):
    """(DOM after scripts ran, URLs the page requested beyond file://)."""
    with tempfile.TemporaryDirectory() as profile:
        netlog = Path(profile) / "net.json"
        args = [chromium(), *FLAGS, f"--user-data-dir={profile}/p", f"--window-size={size}",
                f"--virtual-time-budget={budget_ms}", f"--log-net-log={netlog}"]
        dom = subprocess.run([*args, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*args, f"--screenshot={screenshot}", page.resolve().as_uri()], capture_output=True,
                           timeout=120, check=True)
        urls = set(re.findall(r'"url":"([^"]+)"', netlog.read_text())) if netlog.exists() else set()
    outside = {u for u in urls if not u.startswith(("file:", "data:", "blob:")) and not BROWSER_OWN.match(u)}
    return dom, outside


def cells(dom: str) -> dict[tuple[str, str], str]:
    """(product, target) -> the matrix cell's HTML."""
    out = {}
    for row in re.findall(r"<tr data-search[\s\S]*?</tr>", dom):
        product = re.search(r'href="products/([^"]+?)(?:\.[a-z]{2}(?:-[A-Z]{2})?)?\.html', row).group(1)  # any language
        for target, cell in re.findall(r'<td class="cell [a-z]+" data-target="([^"]+)"([\s\S]*?)</td>', row):
            out[(product, target)] = cell
    return out


def json_of(path: Path) -> dict:
    return json.loads(path.read_text())


def columns(dom: str) -> dict[str, str]:
    """target -> the matrix's column header HTML, in page order."""
    return dict(re.findall(r'<th class="target" data-target="([^"]+)">([\s\S]*?)</th>', dom))


def text_of(fragment: str) -> str:
    """What a reader sees of some HTML: tags dropped, entities decoded, spaces squeezed."""
    import html

    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()
