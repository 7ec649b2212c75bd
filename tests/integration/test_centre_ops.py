"""Operating the service: the admin commands and ``lab serve`` (the issue's "done when" end to end is
in tests/integration/test_centre_end_to_end.py).

Everything runs as subprocesses, the way an operator types it, against the session's real
PostgreSQL and RabbitMQ (the ``engines`` fixture), in a database and a virtual host of this
module's own, from a temporary working folder (so the lab's own ``.env`` is never read).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.integration.centre_cli import TOKEN, base_env, fresh_database, fresh_vhost, lab, ok, serve

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
    # a forgotten password: set anew (the user's sessions end); a user that does not exist is said
    reset = ok(lab("admin", "user", "password", "vendor@acme.example", cwd=folder, env=env,
                   stdin="correct horse battery\n"))
    assert "a new password is set" in reset.stdout
    nobody = lab("admin", "user", "password", "nobody@acme.example", cwd=folder, env=env, stdin="long enough one\n")
    assert nobody.returncode == 2 and "no user 'nobody@acme.example'" in nobody.stderr

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
