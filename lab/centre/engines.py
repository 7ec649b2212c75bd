"""The service's engines on one machine, from Debian's packages, under a state folder the lab owns:
a PostgreSQL cluster and a RabbitMQ node, each listening on 127.0.0.1 only, on ports of its own.

``./labw serve`` uses this for the centre's own instance (``.lab/state``); the tests use it for
throw-away instances in a temporary folder. Nothing here touches the machine's own PostgreSQL
or RabbitMQ (their default clusters and nodes are left alone).

Example::

    pg = Postgres(Path(".lab/state/postgresql"), port=5433)
    pg.start()                      # idempotent: initdb the first time
    url = pg.url()                  # postgresql+psycopg://lab:...@127.0.0.1:5433/lab
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab.errors import InfrastructureError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise InfrastructureError(f"{what} did not answer on 127.0.0.1:{port} within {seconds:g} s")


def _secret(path: Path) -> str:
    """A password kept beside the engine's data (mode 600), made once."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Postgres:
    """A cluster of Debian's PostgreSQL 15, run as the ``postgres`` user (it refuses root)."""

    home: Path
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    def _as_postgres(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True,
                              check=False, cwd="/")

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        r = self._as_postgres(*cmd)
        if r.returncode != 0:
            raise InfrastructureError(f"PostgreSQL: {' '.join(cmd[:2])} failed: {(r.stdout + r.stderr)[-800:]}")
        return r

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def start(self) -> None:
        if not (PG_BIN / "postgres").exists():
            raise InfrastructureError("PostgreSQL 15 is not installed: apt-get install postgresql")
        uid = pwd.getpwnam("postgres")
        self.home.mkdir(parents=True, exist_ok=True)
        os.chown(self.home, uid.pw_uid, uid.pw_gid)
        self.home.chmod(0o700)
        password = _secret(self.home / "lab.password")
        os.chown(self.home / "lab.password", uid.pw_uid, uid.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                      "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
            with (self.data / "postgresql.conf").open("a") as fh:
                fh.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                         f"unix_socket_directories = '{self.home}'\nmax_connections = 200\n")
        if not self.running():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "server.log"),
                      "-w", "-t", "60", "start")
        psql = [str(PG_BIN / "psql"), "-h", str(self.home), "-p", str(self.port), "-U", "postgres", "-v",
                "ON_ERROR_STOP=1", "-d", "postgres", "-qtAc"]
        if self._run(*psql, "select 1 from pg_roles where rolname='lab'").stdout.strip() != "1":
            self._run(*psql, f"create role lab login password '{password}'")
            self._run(*psql, "create database lab owner lab")

    def stop(self) -> None:
        if self.running():
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self) -> str:
        return f"postgresql+psycopg://lab:{_secret(self.home / 'lab.password')}@127.0.0.1:{self.port}/lab"


@dataclass
class Rabbit:
    """A RabbitMQ node of its own (name, ports, cookie, data), bound to 127.0.0.1.

    Its consumer timeout is a day: a cell may run for hours unacknowledged (late acknowledgement),
    and RabbitMQ's default 30 minutes would cancel it mid-run."""

    home: Path
    port: int

    @property
    def node(self) -> str:
        return f"lab{self.port}@localhost"

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home), "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.home / "log"), "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(self.home / "pid"), "RABBITMQ_DIST_PORT": str(self.dist_port()),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    def dist_port(self) -> int:
        """The node's Erlang distribution port: a free one, chosen once and kept with the node (the
        AMQP port plus a constant could pass 65535)."""
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "dist.port"
        if not path.exists():
            path.write_text(str(free_port()))
        return int(path.read_text())

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        self.home.mkdir(parents=True, exist_ok=True)  # Erlang drops a crash dump in its working folder
        return subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False, cwd=self.home)

    def running(self) -> bool:
        return self.ctl("status", timeout=20).returncode == 0

    def start(self) -> None:
        if not (RABBIT_BIN / "rabbitmq-server").exists():
            raise InfrastructureError("RabbitMQ is not installed: apt-get install rabbitmq-server")
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nconsumer_timeout = 86400000\nloopback_users = none\n")
        (self.home / "enabled_plugins").write_text("[].\n")
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20))
            cookie.chmod(0o400)
        if not self.running():
            log = (self.home / "server.log").open("ab")
            subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env(), stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home)
            r = self.ctl("wait", str(self.home / "pid"), "--timeout", "90", timeout=120)
            if r.returncode != 0:
                raise InfrastructureError(f"RabbitMQ did not start: {(r.stdout + r.stderr)[-800:]}; "
                                          f"see {self.home / 'log'}")
        password = _secret(self.home / "lab.password")
        if "lab" not in self.ctl("list_users", "-q").stdout.split():
            self.ctl("add_user", "lab", password)
            self.ctl("set_permissions", "-p", "/", "lab", ".*", ".*", ".*")
            self.ctl("delete_user", "guest")
        wait_port(self.port, 30, "RabbitMQ")

    def stop(self) -> None:
        if self.running():
            self.ctl("stop", timeout=60)

    def url(self) -> str:
        return f"amqp://lab:{_secret(self.home / 'lab.password')}@127.0.0.1:{self.port}//"


def remove(home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
