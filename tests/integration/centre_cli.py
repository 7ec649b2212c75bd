"""Running the lab's service commands the way an operator types them, for
tests/integration/test_centre_ops.py and test_centre_end_to_end.py: ``lab`` as a subprocess from a
temporary working folder (so the lab's own ``.env`` is never read), a database and a virtual host of
the caller's own on the session's real engines, ``lab serve`` in the background until healthy.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from lab.centre.engines import PG_BIN, free_port

TOKEN = re.compile(r"lab_[0-9a-f]{16}_[A-Za-z0-9_-]{20,100}")


# --- helpers ------------------------------------------------------------------------------------

def fresh_database(pg) -> str:
    """A new, empty database owned by the lab's role, for this module alone: its URL."""
    name = f"ops_{uuid.uuid4().hex[:10]}"
    subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", str(pg.home), "-p", str(pg.port),
                    "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc",
                    f"create database {name} owner lab"], check=True, cwd="/", capture_output=True)
    return pg.url().rsplit("/", 1)[0] + "/" + name


def fresh_vhost(rabbit) -> str:
    """A RabbitMQ virtual host of this module's own (its queues never meet another test's): its URL."""
    vhost = f"ops-{uuid.uuid4().hex[:8]}"
    assert rabbit.ctl("add_vhost", vhost).returncode == 0
    assert rabbit.ctl("set_permissions", "-p", vhost, "lab", ".*", ".*", ".*").returncode == 0
    return rabbit.url().rstrip("/") + "/" + vhost


def base_env(**settings: str) -> dict[str, str]:
    """The environment of a command run by the operator: no LAB_* setting but these (and the
    session's signing key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_") or k == "LAB_SIGNING_KEY"}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def lab(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lab", *args], cwd=cwd, env=env, input=stdin if stdin is not None
                          else "", capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def wait_health(url: str, proc: subprocess.Popen, seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"lab serve exited with {proc.returncode}"
        try:
            r = httpx.get(f"{url}/api/v1/health", timeout=5)
            if r.status_code == 200:
                return r
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url}/api/v1/health did not answer 200 in {seconds} s")


class Background:
    """A ``lab`` command in the background (its own process group), its output in a log file."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.log = log
        self.fh = log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "lab", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.fh, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, seconds: float = 60) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # what it left in its group
        self.fh.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def serve(cwd: Path, env: dict[str, str], log: Path) -> tuple[Background, str]:
    port = free_port()
    api = Background(["serve", "--port", str(port)], cwd, env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url, api.proc)
    except AssertionError:
        api.stop()
        raise AssertionError(f"lab serve did not come up:\n{api.text()[-3000:]}") from None
    return api, url
