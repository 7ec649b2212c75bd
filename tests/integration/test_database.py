"""Database stacks for real: PostgreSQL and MariaDB servers inside targets, an external PostgreSQL
on 127.0.0.1, the vendor's schema and checks, redaction, and a server that dies mid-suite."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time

import pytest

from lab.engine import LABEL_RUN, LABEL_TARGET, client
from tests.conftest import ROOT
from tests.integration.packages import MANIFEST, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]
PG, MARIA = "debian12-postgresql", "debian12-mariadb"
LEDGER = MANIFEST.replace('version = "1.0"', 'version = "2.0.0"')  # the version its .deb carries


@pytest.fixture(scope="module")
def stacks(built):
    built(PG)
    built(MARIA)


def test_a_postgresql_schema_passes_on_the_pg_stack_and_fails_on_the_mysql_one(stacks, examples, lab_run):
    run = lab_run(examples / "acme-ledger")
    assert run.proc.returncode == 1
    pg, maria = run.target(PG), run.target(MARIA)
    assert pg["verdict"] == "passed", pg["reason"]
    assert run.check(PG, "database.checks")["outcome"] == "passed"
    assert pg["facts"]["db_engine"] == "postgresql" and pg["facts"]["db_version"].startswith("15.")
    assert pg["facts"]["db_profiles"] == "opengauss,kingbasees"
    schema = run.check(MARIA, "database.schema")
    assert maria["verdict"] == "failed" and schema["outcome"] == "failed"
    assert schema["message"].startswith("sql/schema.sql:2: the MariaDB 10.11 server refused `CREATE TABLE accounts")
    assert "Unknown data type: 'TIMESTAMPTZ'" in schema["message"]
    assert run.check(MARIA, "database.checks")["outcome"] == "skipped"
    cert = json.loads((run.out / f"certificates/{PG}.json").read_text())
    assert cert["certificate"]["target"]["facts"]["db_version"] == pg["facts"]["db_version"]
    assert not (run.out / f"certificates/{MARIA}.json").exists()


def test_not_applicable_is_skipped_with_the_reason(stacks, lab_run, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copy(next((ROOT / "examples/acme-ledger").glob("*.deb")), sub)
    shutil.copytree(ROOT / "examples/acme-ledger/sql", sub / "sql")
    (sub / "submission.toml").write_text(LEDGER.format(name="mysql-only") + '[[artifacts]]\npath = '
                                         '"acme-ledger_2.0.0_all.deb"\n[database]\nengines = ["mysql"]\n'
                                         'schema = "sql/schema.sql"\n')
    run = lab_run(sub, "--targets", f"{PG},debian12-x86_64", "--suites", "database")
    assert run.proc.returncode == 0
    on_pg = run.check(PG, "database.schema")
    assert on_pg["outcome"] == "skipped" and "offers postgresql (PostgreSQL 15); the submission claims mysql" \
        in on_pg["message"]
    assert "debian12-x86_64 offers no database" in run.check("debian12-x86_64", "database.schema")["message"]


def test_the_service_gets_the_database_and_the_password_is_redacted(stacks, lab_run, tmp_path, quick_watch):
    sub = tarball(tmp_path / "svc", "svc", "#!/bin/sh\nexit 0\n", service=(
        '[service]\ncommand = "sh -c \'echo db=$DB_NAME user=$DB_USER pw=$DB_PASSWORD; '
        'exec /opt/svc/bin/acme-web --port 8080\'"\nports = [8080]\nready_timeout = 10\n'
        '[database]\nengines = ["postgresql"]\n[tests]\npaths = ["tests"]\n'))
    (sub / "tests").mkdir()
    (sub / "tests/test_pw.py").write_text(
        "import os\n\ndef test_leaks_the_password():\n    assert False, 'pw=' + os.environ['DB_PASSWORD']\n")
    run = lab_run(sub, "--targets", PG, inventory=quick_watch)
    assert run.check(PG, "service.ready")["outcome"] == "passed"
    log = (run.out / f"logs/{PG}/service.log").read_text()
    assert re.search(r"db=lab_[0-9a-f]{8} user=lab_[0-9a-f]{8} pw=\*{8}$", log.splitlines()[0]), log
    assert "pw=********" in run.check(PG, "vendor.tests/test_pw.py::test_leaks_the_password")["message"]
    # Wherever a password is handed over (client env, service env, CREATE ROLE), the mask follows.
    handed = re.compile(r"(PGPASSWORD=|MYSQL_PWD=|DB_PASSWORD=|PASSWORD ')([\\'\"]*)(.{8})")
    seen = 0
    for path in run.out.rglob("*"):
        if path.is_file():
            for m in handed.finditer(path.read_text(errors="replace")):
                seen += 1
                assert m.group(3) == "********", (path, m.group(0))
    assert seen >= 3


def test_a_server_killed_mid_suite_is_broken(stacks, tmp_path):
    sub = tmp_path / "slow"
    (sub / "sql").mkdir(parents=True)
    shutil.copy(next((ROOT / "examples/acme-ledger").glob("*.deb")), sub)
    (sub / "sql/schema.sql").write_text("CREATE TABLE t (id INT);\n")
    (sub / "sql/checks.sql").write_text("SELECT pg_sleep(8);\nSELECT 1;\n")
    (sub / "submission.toml").write_text(LEDGER.format(name="slow-db") + '[[artifacts]]\npath = '
                                         '"acme-ledger_2.0.0_all.deb"\n[database]\nengines = ["postgresql"]\n'
                                         'schema = "sql/schema.sql"\nchecks = "sql/checks.sql"\n')
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", str(sub), "--targets", PG, "--output", str(out),
                             "--no-report", "--suites", "database"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    events = out / f"logs/{PG}/events.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (events.exists() and '"database.schema"' in events.read_text()):
        time.sleep(0.2)
    time.sleep(1)
    run_id = json.loads((out / "plan.json").read_text())["run"]
    container = client().containers.list(filters={"label": [f"{LABEL_RUN}={run_id}", f"{LABEL_TARGET}={PG}"]})[0]
    container.exec_run(["pg_ctlcluster", "15", "main", "stop", "-m", "immediate"])
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stdout + stderr
    verdicts = json.loads((out / "verdicts.json").read_text())
    checks = next(c for c in verdicts["targets"][PG]["checks"] if c["id"] == "database.checks")
    assert checks["outcome"] == "broken" and "server went away" in checks["message"]


@pytest.fixture(scope="module")
def host_postgres():
    """A PostgreSQL server on this machine's 127.0.0.1, as a centre's external database."""
    assert shutil.which("pg_ctlcluster"), "the external-database test needs Debian's postgresql (./labw test)"
    subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True)
    password = secrets.token_urlsafe(12)
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-c",
                    f"ALTER USER postgres PASSWORD '{password}'"], check=True, capture_output=True)
    return password


def test_an_external_postgresql_server(built, examples, lab_run, host_postgres, monkeypatch):
    built("debian12-x86_64")
    monkeypatch.setenv("LAB_PG_ADMIN_PASSWORD", host_postgres)
    run = lab_run(examples / "acme-ledger", "--targets", "debian12-pg-external", "--suites", "database")
    target = run.target("debian12-pg-external")
    assert run.proc.returncode == 0, target["reason"]
    assert run.check("debian12-pg-external", "database.checks")["outcome"] == "passed"
    assert target["facts"]["db_version"].startswith("15.")
    assert subprocess.run(["grep", "-rl", host_postgres, str(run.out)], capture_output=True).stdout == b""


def test_a_statement_longer_than_a_command_line_argument_is_run_whole(stacks, lab_run, tmp_path):
    """A seed file's multi-row INSERT of 200 KiB: one argument of a command line holds 128 KiB, so
    it goes to psql through a file; every row arrives (the checks count them)."""
    sub = tmp_path / "sub"
    (sub / "sql").mkdir(parents=True)
    shutil.copy(next((ROOT / "examples/acme-ledger").glob("*.deb")), sub)
    rows = ",\n".join(f"({i}, 'row {i} {secrets.token_hex(16)}')" for i in range(4000))
    (sub / "sql/schema.sql").write_text("CREATE TABLE seed (id integer PRIMARY KEY, label text);\n"
                                        f"INSERT INTO seed (id, label) VALUES\n{rows};\n")
    (sub / "sql/checks.sql").write_text("DO $$ BEGIN IF (SELECT count(*) FROM seed) <> 4000 THEN "
                                        "RAISE EXCEPTION 'seed rows lost'; END IF; END $$;\n")
    assert (sub / "sql/schema.sql").stat().st_size > 200 << 10
    (sub / "submission.toml").write_text(LEDGER.format(name="big-seed") + '[[artifacts]]\npath = '
                                         '"acme-ledger_2.0.0_all.deb"\n[database]\nengines = ["postgresql"]\n'
                                         'schema = "sql/schema.sql"\nchecks = "sql/checks.sql"\n')
    run = lab_run(sub, "--targets", PG, "--suites", "database")
    assert run.check(PG, "database.schema")["outcome"] == "passed", run.check(PG, "database.schema")["message"]
    assert run.check(PG, "database.checks")["outcome"] == "passed", run.check(PG, "database.checks")["message"]


def test_a_mysql_client_command_in_the_sql_runs_nothing(stacks, lab_run, tmp_path):
    """Review: ``system touch ...`` is the mysql client's own command, not SQL; from a file (and with
    -e) the client ran it on the target. With --binary-mode it is SQL the server refuses."""
    sub = tmp_path / "sub"
    (sub / "sql").mkdir(parents=True)
    shutil.copy(next((ROOT / "examples/acme-ledger").glob("*.deb")), sub)
    padding = "/* " + "x" * (100 << 10) + " */"  # over the argument limit: the file path too
    (sub / "sql/schema.sql").write_text("system touch /tmp/lab-pwned-short;\n"
                                        f"system touch /tmp/lab-pwned-long {padding};\n")
    (sub / "submission.toml").write_text(LEDGER.format(name="mysql-system") + '[[artifacts]]\npath = '
                                         '"acme-ledger_2.0.0_all.deb"\n[database]\nengines = ["mysql"]\n'
                                         'schema = "sql/schema.sql"\n')
    run = lab_run(sub, "--targets", MARIA, "--suites", "install,database")
    schema = run.check(MARIA, "database.schema")
    assert schema["outcome"] == "failed" and "refused `system touch /tmp/lab-pwned-short" in schema["message"], \
        schema["message"]


def test_a_refused_statement_quoting_a_server_gone_phrase_is_the_products_failure(stacks, lab_run, tmp_path):
    """Hostile review: `SELECT * FROM "Connection refused"` made both stacks say the server went away
    (broken, the lab's fault): the client's error quotes the statement. A server that still answers
    a new connection did not go away."""
    sub = tmp_path / "sub"
    (sub / "sql").mkdir(parents=True)
    shutil.copy(next((ROOT / "examples/acme-ledger").glob("*.deb")), sub)
    (sub / "sql/schema.sql").write_text("CREATE TABLE t (id INT);\nSELECT * FROM \"Connection refused\";\n")
    (sub / "submission.toml").write_text(LEDGER.format(name="gone-words") + '[[artifacts]]\npath = '
                                         '"acme-ledger_2.0.0_all.deb"\n[database]\nengines = ["postgresql", '
                                         '"mysql"]\nschema = "sql/schema.sql"\n')
    run = lab_run(sub, "--targets", f"{PG},{MARIA}", "--suites", "database")
    for target in (PG, MARIA):
        schema = run.check(target, "database.schema")
        assert schema["outcome"] == "failed", (target, schema["message"])
        assert "Connection refused" in schema["message"] and "went away" not in schema["message"]
    assert run.proc.returncode == 1


def test_a_statement_that_crashes_the_server_is_the_products_and_leaves_no_false_daemons(stacks, lab_run,
                                                                                          tmp_path):
    """Hostile review: a query that takes all the memory crashed PostgreSQL, which recovered in two
    seconds; the lab called the server gone (broken) and, at the end, blamed the install for the
    server processes its recovery had forked."""
    sub = tmp_path / "sub"
    (sub / "sql").mkdir(parents=True)
    shutil.copy(next((ROOT / "examples/acme-ledger").glob("*.deb")), sub)
    (sub / "sql/schema.sql").write_text(
        "CREATE TABLE t (id INT);\nSELECT length(array_agg(g)::text) FROM generate_series(1, 60000000) g;\n")
    (sub / "submission.toml").write_text(LEDGER.format(name="crash-db") + '[[artifacts]]\npath = '
                                         '"acme-ledger_2.0.0_all.deb"\n[database]\nengines = ["postgresql"]\n'
                                         'schema = "sql/schema.sql"\n')
    run = lab_run(sub, "--targets", PG, "--suites", "install,database")
    schema = run.check(PG, "database.schema")
    assert schema["outcome"] == "failed", schema["message"]
    if "brought it down" in schema["message"]:  # the server crashed (not merely refused the query)
        leftovers = run.check(PG, "install.leftovers")
        assert "checkpointer" not in leftovers["message"], leftovers["message"]
    assert run.target(PG)["verdict"] == "failed"
