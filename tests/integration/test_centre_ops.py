"""Operating the service: the admin commands, ``lab serve``, and the issue's "done when" end to end
(a vendor made with the admin commands uploads examples/acme-calc with a real curl, a worker runs
it, the vendor reads the verdicts, an engineer publishes, the buyers' matrix shows it).

Everything runs as subprocesses, the way an operator types it, against the session's real
PostgreSQL and RabbitMQ (the ``engines`` fixture), in a database and a virtual host of this
module's own, from a temporary working folder (so the lab's own ``.env`` is never read).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from lab.centre.engines import PG_BIN, free_port
from tests.conftest import ROOT

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


# --- without engines ------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "lab.example"])
def test_serve_refuses_a_non_loopback_host_without_public_and_says_why(tmp_path, host):
    proc = lab("serve", "--host", host, cwd=tmp_path, env=base_env(LAB_DATABASE_URL="sqlite:///unused.db"))
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr
    assert "--public" in proc.stderr and "TLS" in proc.stderr
    assert not (tmp_path / "unused.db").exists()  # refused before anything was touched


def test_env_file_gets_the_settings_keeps_other_lines_and_is_private(tmp_path):
    from lab.centre.up import read_env, write_env

    env = tmp_path / ".env"
    env.write_text("# mine\nLAB_CELL_ATTEMPTS=5\nLAB_STORAGE=/old\nexport LAB_BROKER_URL=amqp://old\n")
    write_env(env, {"LAB_STORAGE": "/new", "LAB_BROKER_URL": "amqp://new"})
    write_env(env, {"LAB_STORAGE": "/new", "LAB_BROKER_URL": "amqp://new"})  # idempotent
    assert env.read_text() == "# mine\nLAB_CELL_ATTEMPTS=5\nLAB_STORAGE=/new\nLAB_BROKER_URL=amqp://new\n"
    assert env.stat().st_mode & 0o777 == 0o600
    assert read_env(env) == {"LAB_CELL_ATTEMPTS": "5", "LAB_STORAGE": "/new", "LAB_BROKER_URL": "amqp://new"}


def test_stop_signals_only_the_process_its_pid_file_names(tmp_path):
    """A pid file holds the pid and the process's start time: a pid reused by another program
    (after a reboot) is never signalled; the process it did start is stopped with its group."""
    from lab.centre.up import Layout, _spawn, _stop_process, alive

    layout = Layout(tmp_path)
    pid = _spawn(layout, "api", ["sleep", "300"], dict(os.environ))
    assert alive(layout, "api") == pid
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        real = (layout.run / "api.pid").read_text()
        (layout.run / "api.pid").write_text(f"{other.pid} 12345\n")  # a reused pid: not the same start time
        assert alive(layout, "api") is None
        _stop_process(layout, "api", 5, lambda _: None)
        assert other.poll() is None and not (layout.run / "api.pid").exists()  # untouched; stale file gone
        (layout.run / "api.pid").write_text(real)
        _stop_process(layout, "api", 5, lambda _: None)
        assert alive(layout, "api") is None and not (layout.run / "api.pid").exists()
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    finally:
        other.kill()
        other.wait()


# --- the admin commands and lab serve, against the real engines --------------------------------

@pytest.fixture(scope="module")
def centre(engines, tmp_path_factory):
    """A working folder whose ``.env`` points at a fresh database, a virtual host and a storage
    folder of this module's own, as ``./labw serve`` writes it for a machine."""
    pg, rabbit = engines
    folder = tmp_path_factory.mktemp("centre-ops")
    url = fresh_database(pg)
    settings = {"LAB_DATABASE_URL": url, "LAB_BROKER_URL": fresh_vhost(rabbit), "LAB_STORAGE": str(folder / "storage"),
                "LAB_INVENTORY": str(ROOT / "targets.toml")}
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return folder, url


@pytest.mark.slow
def test_admin_creates_an_org_users_and_a_token_stored_only_as_a_hash(centre):
    folder, url = centre
    env = base_env()  # the settings come from the folder's .env, as for an operator
    out = ok(lab("admin", "org", "create", "ACME Software", cwd=folder, env=env))
    assert "ACME Software" in out.stdout

    again = lab("admin", "org", "create", "ACME Software", cwd=folder, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    # no organisation certifies under another's vendor name; one may change its own
    posing = lab("admin", "org", "create", "Mallory", "--vendor", "ACME Software", cwd=folder, env=env)
    assert posing.returncode == 2 and "is already organisation 'ACME Software''s" in posing.stderr, posing.stderr
    changed = ok(lab("admin", "org", "vendor", "ACME Software", "ACME Software Co., Ltd.", cwd=folder, env=env))
    assert "vendor = ACME Software Co., Ltd." in changed.stdout

    # the password on stdin (not a terminal): its first line
    ok(lab("admin", "user", "create", "Vendor@acme.example", "--org", "ACME Software", cwd=folder, env=env,
           stdin="correct horse battery\n"))
    ok(lab("admin", "user", "create", "li.wei@lab.example", "--engineer", cwd=folder, env=env,
           stdin="engineer's own passphrase\n"))
    short = lab("admin", "user", "create", "x@acme.example", "--org", "ACME Software", cwd=folder, env=env,
                stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    unknown = lab("admin", "user", "create", "y@acme.example", "--org", "Nobody Ltd", cwd=folder, env=env,
                  stdin="long enough password\n")
    assert unknown.returncode == 2 and "no organisation named 'Nobody Ltd'" in unknown.stderr

    made = ok(lab("admin", "token", "create", "--org", "ACME Software", cwd=folder, env=env))
    lines = made.stdout.rstrip("\n").splitlines()
    token = lines[-1]
    assert TOKEN.fullmatch(token), f"the last line is not the token alone: {lines[-1]!r}"
    assert token not in "\n".join(lines[:-1]) and token not in made.stderr  # shown once
    token_id = token.split("_")[1]
    assert f"lab admin token revoke {token_id}" in made.stdout

    db = create_engine(url)
    try:
        with db.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(text("select * from api_tokens"))]
            users = {r.email: r for r in c.execute(text("select email, password_hash, engineer from users"))}
    finally:
        db.dispose()
    assert len(rows) == 1
    assert token.split("_", 2)[2] not in json.dumps(rows, default=str)  # never the secret itself
    assert rows[0]["secret_sha256"] == hashlib.sha256(token.split("_", 2)[2].encode()).hexdigest()
    assert rows[0]["id"] == token_id and rows[0]["revoked"] is None

    from argon2 import PasswordHasher

    assert set(users) == {"vendor@acme.example", "li.wei@lab.example"}
    vendor = users["vendor@acme.example"]
    assert vendor.password_hash.startswith("$argon2id$") and "correct horse" not in vendor.password_hash
    assert PasswordHasher().verify(vendor.password_hash, "correct horse battery")
    assert users["li.wei@lab.example"].engineer

    eng = ok(lab("admin", "token", "create", "--engineer", "li.wei@lab.example", cwd=folder, env=env))
    assert TOKEN.fullmatch(eng.stdout.splitlines()[-1])
    neither = lab("admin", "token", "create", cwd=folder, env=env)
    assert neither.returncode == 2 and "exactly one of" in neither.stderr


@pytest.mark.slow
def test_serve_answers_health_and_a_revoked_token_is_refused_at_once(centre, tmp_path):
    folder, _url = centre
    env = base_env()
    ok(lab("admin", "org", "create", "Revoked Co", cwd=folder, env=env))
    token = ok(lab("admin", "token", "create", "--org", "Revoked Co", cwd=folder, env=env)).stdout.splitlines()[-1]
    api, url = serve(folder, env, tmp_path / "api.log")
    try:
        health = httpx.get(f"{url}/api/v1/health", timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok" and health.json()["broker"] == "ok", health.text
        assert httpx.get(f"{url}/api/v1/openapi.json", timeout=10).status_code == 200

        bearer = {"Authorization": f"Bearer {token}"}
        before = httpx.get(f"{url}/api/v1/submissions", headers=bearer, timeout=10)
        assert before.status_code == 200, before.text
        assert before.json() == [] or before.json().get("submissions", []) == []

        revoked = ok(lab("admin", "token", "revoke", token.split("_")[1], cwd=folder, env=env))
        assert "revoked" in revoked.stdout
        after = httpx.get(f"{url}/api/v1/submissions", headers=bearer, timeout=10)
        assert after.status_code == 401, after.text
        again = ok(lab("admin", "token", "revoke", token.split("_")[1], cwd=folder, env=env))
        assert "revoked" in again.stdout
        unknown = lab("admin", "token", "revoke", "0123456789abcdef", cwd=folder, env=env)
        assert unknown.returncode == 2 and "no token" in unknown.stderr
    finally:
        api.stop()
    assert "Traceback" not in api.text(), api.text()[-3000:]


# --- the "done when", end to end --------------------------------------------------------

SERVICE_MODULES = ("lab.centre.api", "lab.centre.tasks", "lab.cli.worker")
MISSING = [m for m in SERVICE_MODULES if importlib.util.find_spec(m) is None]


def acme_calc_archive(folder: Path) -> Path:
    """examples/acme-calc as the vendor hands it in: a .tar.gz of the submission folder."""
    src = ROOT / "examples" / "acme-calc"
    archive = folder / "acme-calc-0.9.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if "build" in rel.parts or "__pycache__" in rel.parts or path.suffix == ".pyc":
                continue
            tar.add(path, arcname=str(rel), recursive=False)
    return archive


def curl(*args: str) -> tuple[int, str]:
    """A real curl: the HTTP status and the body."""
    proc = subprocess.run(["curl", "-sS", "--max-time", "120", "-w", "\n%{http_code}", *args], capture_output=True,
                          text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), body


E2E_TARGETS = ("debian12-x86_64", "debian12-aarch64")


def small_inventory(folder: Path) -> Path:
    """The lab's inventory with only two Docker targets enabled (x86_64 and arm64 under qemu): the
    same [lab] section and target entries, so the end-to-end run stays short."""
    text_ = (ROOT / "targets.toml").read_text()
    head, *blocks = re.split(r"(?m)^(?=\[\[targets\]\]\s*$)", text_)
    kept = [b for b in blocks if re.search(r'(?m)^name = "([^"]+)"', b).group(1) in E2E_TARGETS]
    assert len(kept) == len(E2E_TARGETS)
    path = folder / "targets.toml"
    path.write_text(head + "".join(kept))
    for sub in ("images",):  # the image recipes the entries name, relative to the inventory
        if (ROOT / sub).exists():
            (folder / sub).symlink_to(ROOT / sub)
    return path


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(bool(MISSING), reason=f"the service is not all there yet: {', '.join(MISSING)} missing")
def test_a_vendor_uploads_acme_calc_with_curl_and_an_engineer_publishes_it(engines, examples, built, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed (Debian's curl): the test uploads with a real curl")
    for name in E2E_TARGETS:
        built(name)
    pg, rabbit = engines
    folder = tmp_path / "centre"
    folder.mkdir()
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    settings = {"LAB_DATABASE_URL": fresh_database(pg), "LAB_BROKER_URL": fresh_vhost(rabbit),
                "LAB_STORAGE": str(folder / "storage"), "LAB_SERVICE_URL": url,
                "LAB_INVENTORY": str(small_inventory(folder)), "LAB_WORKER_TOKEN": uuid.uuid4().hex}
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = base_env()

    ok(lab("admin", "org", "create", "ACME Software Co., Ltd.", cwd=folder, env=env))
    ok(lab("admin", "user", "create", "vendor@acme.example", "--org", "ACME Software Co., Ltd.", cwd=folder,
           env=env, stdin="vendor's passphrase\n"))
    ok(lab("admin", "user", "create", "engineer@lab.example", "--engineer", cwd=folder, env=env,
           stdin="engineer's passphrase\n"))
    vendor = ok(lab("admin", "token", "create", "--org", "ACME Software Co., Ltd.", cwd=folder,
                    env=env)).stdout.splitlines()[-1]
    engineer = ok(lab("admin", "token", "create", "--engineer", "engineer@lab.example", cwd=folder,
                      env=env)).stdout.splitlines()[-1]

    api = Background(["serve", "--port", str(api_port)], folder, env, tmp_path / "api.log")
    worker = Background(["worker", "--name", "ops-host-1", "--targets", ",".join(E2E_TARGETS), "--slots", "2",
                         "--inventory", settings["LAB_INVENTORY"]], folder, env, tmp_path / "worker.log")
    try:
        wait_health(url, api.proc)
        status, body = curl("-H", f"Authorization: Bearer {vendor}",
                            "-F", f"submission=@{acme_calc_archive(tmp_path)}", f"{url}/api/v1/submissions")
        assert status == 201, body
        created = json.loads(body)
        sid = created["id"]
        assert created["state"] in ("queued", "running")

        deadline = time.monotonic() + 900
        while True:
            status, body = curl("-H", f"Authorization: Bearer {vendor}", f"{url}/api/v1/submissions/{sid}")
            assert status == 200, body
            sub = json.loads(body)
            if sub["state"] == "finished":
                break
            assert worker.proc.poll() is None, f"the worker exited:\n{worker.text()[-3000:]}"
            assert time.monotonic() < deadline, f"not finished in 15 minutes: {sub}\n{worker.text()[-3000:]}"
            time.sleep(2)
        assert sub["product"] == "acme-calc" and sub["version"] == "0.9.0" and sub["published"] is False
        assert {c["target"] for c in sub["cells"]} == set(E2E_TARGETS)
        assert all(c["state"] == "done" for c in sub["cells"]), sub
        assert {c["verdict"] for c in sub["cells"]} == {"passed"}, sub

        status, body = curl("-H", f"Authorization: Bearer {vendor}", f"{url}/api/v1/submissions/{sid}/verdicts")
        assert status == 200, body
        verdicts = json.loads(body)
        assert {t: v["verdict"] for t, v in verdicts["targets"].items()} == dict.fromkeys(E2E_TARGETS, "passed")

        status, body = curl(f"{url}/api/v1/catalogue/matrix.json")
        assert status == 200 and "acme-calc" not in body  # nothing public before an engineer publishes

        status, body = curl("-X", "POST", "-H", f"Authorization: Bearer {vendor}",
                            f"{url}/api/v1/submissions/{sid}/publish")
        assert status in (403, 404), body  # a vendor cannot publish its own results
        status, body = curl("-X", "POST", "-H", f"Authorization: Bearer {engineer}",
                            f"{url}/api/v1/submissions/{sid}/publish")
        assert status == 200, body

        status, body = curl(f"{url}/api/v1/catalogue/matrix.json")
        assert status == 200, body
        assert "acme-calc" in body and "0.9.0" in body
        status, page = curl(f"{url}/")
        assert status == 200 and "acme-calc" in page  # the buyers' page
    finally:
        worker.stop()
        api.stop()
    for proc in (api, worker):
        assert "Traceback" not in proc.text(), proc.text()[-3000:]
