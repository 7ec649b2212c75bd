"""The stack's database for one run: started (inside the target, or an external server), a fresh
database and user with a generated password, statements executed one by one, dropped at the end.

A server that does not start, or that goes away, is the lab's fault (*broken*); a statement the
server refuses is the product's (*failed*).
"""

from __future__ import annotations

import abc
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from lab.database.sqlfile import Statement
from lab.deploy.base import q
from lab.errors import InfrastructureError
from lab.inventory.model import DatabaseSpec
from lab.polling import Backoff
from lab.reasons import SERVER_GONE as SERVER_GONE_SAID
from lab.transport.base import Transport

PORTS = {"postgresql": 5432, "mysql": 3306}
# A statement longer than this goes to the client through a file: one argument of a command line
# holds at most 128 KiB on Linux (MAX_ARG_STRLEN), and a seed file's multi-row INSERT is often longer.
ARGUMENT_MOST = 96 << 10
RECOVERY_S = 20.0  # for a server a statement crashed to answer again
STATEMENT_FILE = "/var/tmp/lab-staging/statement.sql"
# What a client prints when the server, not the statement, is the problem.
SERVER_GONE = ("could not connect to server", "Connection refused", "server closed the connection",
               "terminating connection", "Can't connect to", "Lost connection", "has gone away",
               "the database system is shutting down", "no connection to the server", "connection to server")


@dataclass(frozen=True)
class Credentials:
    engine: str
    host: str
    port: int
    database: str
    user: str
    password: str

    def env(self) -> dict[str, str]:
        """What the vendor's service and tests get (CONTRACT: DB_ENGINE, DB_HOST, ...)."""
        return {"DB_ENGINE": self.engine, "DB_HOST": self.host, "DB_PORT": str(self.port),
                "DB_NAME": self.database, "DB_USER": self.user, "DB_PASSWORD": self.password}


def new_credentials(engine: str, host: str, port: int) -> Credentials:
    tag = secrets.token_hex(4)
    return Credentials(engine, host, port, f"lab_{tag}", f"lab_{tag}", secrets.token_urlsafe(18))


class DatabaseServer(abc.ABC):
    def __init__(self, spec: DatabaseSpec):
        self.spec = spec
        self.creds: Credentials | None = None
        # The target's observer's ``adopt``: processes the lab starts itself (a restart) are its own.
        self.adopt: Callable[[], Callable[[], None]] | None = None

    @abc.abstractmethod
    def start(self) -> Credentials: ...

    @abc.abstractmethod
    def execute(self, statement: Statement) -> str | None:
        """None when it succeeded, else the server's error; raises InfrastructureError if the server is gone."""

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def answers(self) -> bool:
        """Whether the server answers a new connection now."""

    def answers_within(self, seconds: float) -> bool:
        """Whether the server answers a new connection within ``seconds``, looked at often first."""
        deadline = time.monotonic() + seconds
        pace = Backoff(0.5, first=0.05)
        while not self.answers():
            if time.monotonic() > deadline:
                return False
            pace.wait()
        return True

    def _recovered(self) -> None:  # noqa: B027 (nothing to do for a server the lab does not run)
        """After the server came back from a crash a statement caused: put it in a known state."""

    def _gone(self, error: str) -> str:
        """The server, not the statement, is the problem: the client said so, and the server does not
        answer a new connection either, nor within ``RECOVERY_S`` (the words alone are not enough:
        a refused statement's error quotes the statement, ``relation "Connection refused" does not
        exist``). A server that comes back crashed on the statement (an unbounded query took its
        memory): the statement's failure, said after its error; "" when none of this happened."""
        if not any(marker in error for marker in SERVER_GONE) or self.answers():
            return ""
        if self.answers_within(RECOVERY_S):
            self._recovered()
            return (f"\n(the {self.spec.server} server lost the connection on this statement and came back: "
                    "the statement brought it down)")
        raise InfrastructureError(SERVER_GONE_SAID.say(server=self.spec.server, error=error.strip()[:500]))


class InTargetServer(DatabaseServer):
    """The engine's server from the target OS's own packages, run inside the target."""

    START: ClassVar[dict[str, str]] = {
        "postgresql": "pg_ctlcluster $(ls /etc/postgresql | sort -V | tail -1) main start",
        "mysql": "(/etc/init.d/mariadb start || /etc/init.d/mysql start) >/dev/null 2>&1"}
    READY: ClassVar[dict[str, str]] = {"postgresql": "pg_isready -q -h 127.0.0.1", "mysql": "mysqladmin ping --silent"}
    RESTART: ClassVar[dict[str, str]] = {
        "postgresql": "pg_ctlcluster $(ls /etc/postgresql | sort -V | tail -1) main restart -m fast",
        "mysql": "(/etc/init.d/mariadb restart || /etc/init.d/mysql restart) >/dev/null 2>&1"}

    def __init__(self, spec: DatabaseSpec, transport: Transport):
        super().__init__(spec)
        self.t = transport

    def _admin(self, sql: str):
        if self.spec.engine == "postgresql":
            return self.t.run(f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -c {q(sql)}")
        return self.t.run(f"mysql -uroot -e {q(sql)}")

    def start(self) -> Credentials:
        engine = self.spec.engine
        r = self.t.run(self.START[engine], timeout=120)
        if not self.answers_within(60):
            raise InfrastructureError(f"the {self.spec.server} server did not start within 60 s:\n{r.evidence()}")
        creds = new_credentials(engine, "127.0.0.1", PORTS[engine])
        self.t.secrets.add(creds.password)
        if engine == "postgresql":
            sqls = [f"CREATE ROLE {creds.user} LOGIN PASSWORD '{creds.password}'",
                    f"CREATE DATABASE {creds.database} OWNER {creds.user}"]
        else:
            sqls = [f"CREATE DATABASE {creds.database}; CREATE USER '{creds.user}'@'localhost' IDENTIFIED BY "
                    f"'{creds.password}'; CREATE USER '{creds.user}'@'127.0.0.1' IDENTIFIED BY '{creds.password}'; "
                    f"GRANT ALL ON {creds.database}.* TO '{creds.user}'@'localhost'; "
                    f"GRANT ALL ON {creds.database}.* TO '{creds.user}'@'127.0.0.1'"]
        for sql in sqls:
            r = self._admin(sql)
            if not r.ok:
                raise InfrastructureError(f"preparing the run's database failed:\n{r.evidence()}")
        self.creds = creds
        return creds

    def client(self, sql: str) -> str:
        c = self.creds
        if self.spec.engine == "postgresql":
            return (f"PGPASSWORD={q(c.password)} psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U {c.user} "
                    f"-d {c.database} -c {q(sql)}")
        return f"MYSQL_PWD={q(c.password)} mysql --binary-mode -h 127.0.0.1 -u {c.user} {c.database} -e {q(sql)}"

    def client_file(self, path: str) -> str:
        """The client reading one statement from ``path``: psql's own commands start with a backslash,
        refused before (``Statement.code`` has none outside literals); mysql's long forms
        (``system ls``) are switched off by ``--binary-mode``."""
        c = self.creds
        if self.spec.engine == "postgresql":
            return (f"PGPASSWORD={q(c.password)} psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U {c.user} "
                    f"-d {c.database} -f {q(path)}")
        # --binary-mode: the client's own commands (``system``, ``source``, ``\\!``) are not run from a file
        return f"MYSQL_PWD={q(c.password)} mysql --binary-mode -h 127.0.0.1 -u {c.user} {c.database} < {q(path)}"

    def execute(self, statement: Statement) -> str | None:
        if len(statement.text.encode("utf-8")) <= ARGUMENT_MOST:
            r = self.t.run(self.client(statement.text))
        elif "\\" in statement.code:
            return (f"a backslash outside a string literal in a {len(statement.text.encode()) >> 10} KiB statement: "
                    "a client command (psql's \\!, mysql's \\!), not SQL, which the lab does not run")
        else:
            self.t.put_bytes(statement.text.encode("utf-8") + b"\n", STATEMENT_FILE)
            r = self.t.run(self.client_file(STATEMENT_FILE))
        if r.ok:
            return None
        error = (r.stderr or r.stdout).strip()
        crashed = self._gone(error)
        lines = error.splitlines()
        first = next((i for i, line in enumerate(lines) if "ERROR" in line), 0)
        return "\n".join(lines[first:]) + crashed  # from the server's error on (mysql echoes the query first)

    def answers(self) -> bool:
        return self.t.run(self.READY[self.spec.engine]).ok

    def _recovered(self) -> None:
        """Restarted cleanly, its new processes the lab's own (``adopt``): those it forked in its
        crash recovery would otherwise read as the install's daemons still running at the end."""
        done = self.adopt() if self.adopt is not None else None
        self.t.run(self.RESTART[self.spec.engine], timeout=120)
        self.answers_within(60)  # one that does not come back is found by the next statement
        if done is not None:
            done()

    def version(self) -> str:
        sql = "SHOW server_version" if self.spec.engine == "postgresql" else "SELECT VERSION()"
        r = self.t.run(self.client(sql) + (" -t -A" if self.spec.engine == "postgresql" else " -N -B"))
        return r.stdout.strip()

    def stop(self) -> None:
        if self.creds is None:
            return
        c = self.creds
        if self.spec.engine == "postgresql":
            self._admin(f"DROP DATABASE IF EXISTS {c.database}")
            self._admin(f"DROP ROLE IF EXISTS {c.user}")
        else:
            self._admin(f"DROP DATABASE IF EXISTS {c.database}; DROP USER IF EXISTS '{c.user}'@'localhost'; "
                        f"DROP USER IF EXISTS '{c.user}'@'127.0.0.1'")


class ExternalServer(DatabaseServer):
    """A server elsewhere (a real centre's openGauss, say), reached from the controller."""

    def __init__(self, spec: DatabaseSpec, allowed_networks: list[str]):
        super().__init__(spec)
        from lab.transport.ssh import check_allowed

        ext = spec.external
        check_allowed(ext.host, allowed_networks)  # the same rule as boards: loopback unless configured
        password = os.environ.get(ext.admin_password_env)
        if password is None:
            # The lab's configuration, found while provisioning: the target is broken, said with its field.
            raise InfrastructureError(f"database.external.admin_password_env: ${ext.admin_password_env} is not "
                                      "set in the lab's environment")
        self.admin_password = password
        self.engine = None

    def _as_admin(self, *statements: str) -> None:
        from sqlalchemy import create_engine, text

        ext = self.spec.external
        admin = create_engine(self._url(ext.admin_user, self.admin_password, ext.admin_database),
                              isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for sql in statements:
                    conn.execute(text(sql))
        finally:
            admin.dispose()

    def _url(self, user: str, password: str, database: str) -> str:
        from sqlalchemy.engine import URL

        ext = self.spec.external
        driver = "postgresql+psycopg" if self.spec.engine == "postgresql" else "mysql+pymysql"
        return URL.create(driver, user, password, ext.host, ext.port, database)

    def start(self) -> Credentials:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError

        ext = self.spec.external
        creds = new_credentials(self.spec.engine, ext.host, ext.port)
        try:
            self._as_admin(f"CREATE ROLE {creds.user} LOGIN PASSWORD '{creds.password}'",
                           f"CREATE DATABASE {creds.database} OWNER {creds.user}")
        except SQLAlchemyError as exc:
            raise InfrastructureError(f"the external {self.spec.server} at {ext.host}:{ext.port} is not usable: "
                                      f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip()}") from None
        self.creds = creds
        self.engine = create_engine(self._url(creds.user, creds.password, creds.database), isolation_level="AUTOCOMMIT")
        return creds

    def execute(self, statement: Statement) -> str | None:
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(statement.text)
        except DBAPIError as exc:
            error = str(exc.orig).strip()
            if exc.connection_invalidated:
                raise InfrastructureError(SERVER_GONE_SAID.say(server=self.spec.server, error=error)) from None
            return error + self._gone(error)
        except SQLAlchemyError as exc:
            raise InfrastructureError(f"the {self.spec.server} server is not reachable: {exc}") from None
        return None

    def answers(self) -> bool:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        return True

    def version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar())

    def stop(self) -> None:
        if self.creds is None:
            return
        self.engine.dispose()
        self._as_admin(f"DROP DATABASE IF EXISTS {self.creds.database} WITH (FORCE)",
                       f"DROP ROLE IF EXISTS {self.creds.user}")
