"""Headless Chromium (Debian's) for the tests: a page's rendered DOM, a screenshot, and the
URLs it asked for. All traffic goes to a closed port on 127.0.0.1, so nothing leaves the machine."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
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


class Browser:
    """Headless Chromium driven over the DevTools protocol on ``--remote-debugging-pipe``; only
    loopback is reached (everything else goes to a closed proxy port)."""

    def __init__(self, profile: Path):
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()
        flags = [f for f in FLAGS if not f.startswith("--proxy-bypass-list")]  # loopback goes direct

        def fds():
            os.dup2(to_child, 100)
            os.dup2(from_child, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        self.proc = subprocess.Popen([chromium(), *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}",
                                      "--window-size=1400,900", "about:blank"], pass_fds=(3, 4), preexec_fn=fds,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._id = 0
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "DOM"):
            self.call(f"{domain}.enable", session=True)

    def _read(self) -> None:
        buf = b""
        while True:
            data = os.read(self._in, 1 << 16)
            if not data:
                return
            buf += data
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()

    def call(self, method: str, session: bool = False, timeout: float = 30, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: self._id in self._answers, timeout):
                raise AssertionError(f"chromium did not answer {method}")
            answer = self._answers.pop(self._id)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer.get("result", {})

    def _loaded(self, after: int, timeout: float = 30) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(e["method"] == "Page.loadEventFired" for e in self.events[after:]),
                                     timeout)
        assert ok, "the page did not load"

    def open(self, url: str) -> None:
        mark = len(self.events)
        self.call("Page.navigate", session=True, url=url)
        self._loaded(mark)

    def run(self, expression: str):
        got = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                        awaitPromise=True)
        assert "exceptionDetails" not in got, got
        return got["result"].get("value")

    def submit(self, form_script: str) -> None:
        """Run a script that submits a form, and wait for the next page."""
        mark = len(self.events)
        self.run(form_script)
        self._loaded(mark)

    def set_file(self, selector: str, path: Path) -> None:
        root = self.call("DOM.getDocument", session=True)["root"]["nodeId"]
        node = self.call("DOM.querySelector", session=True, nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", session=True, nodeId=node, files=[str(path)])

    def dom(self) -> str:
        return self.run("document.documentElement.outerHTML")

    def dialogs(self) -> list[dict]:
        return [e for e in self.events if e["method"] == "Page.javascriptDialogOpening"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._in, self._out):
            with contextlib.suppress(OSError):
                os.close(fd)
