"""The whole service on one machine, in the background: what ``./labw serve`` does (through
``lab serve --background``) and undoes (``lab serve --stop``).

Under a state folder the lab owns (``.lab/state`` beside the inventory)::

    postgresql/   the cluster (Debian's PostgreSQL 15, port 5433, 127.0.0.1 only)
    rabbitmq/     the node (Debian's RabbitMQ, port 5673, 127.0.0.1 only)
    storage/      LAB_STORAGE: uploads and evidence
    logs/         api.log, worker.log
    run/          api.pid, worker.pid: what was started, to stop exactly that

Every step is idempotent: what is already up is kept. A pid file holds the process id and the
process's start time (``/proc/PID/stat``), so a pid reused by another program after a reboot is
never signalled. The settings go to ``.env`` (mode 600: it holds the engines' passwords), where
every ``lab`` command run in that folder reads them.

Nothing here prints: progress goes through ``say``; failures are ``InfrastructureError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lab.centre.engines import Postgres, Rabbit
from lab.errors import InfrastructureError

PG_PORT = 5433
RABBIT_PORT = 5673
API_PORT = 8400
SECRET_KEYS = ("LAB_WORKER_TOKEN",)  # written to .env, never printed

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class Layout:
    """Where one machine's service keeps its state."""

    root: Path  # the working folder: .env and the inventory are here
    state: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.state = self.root / ".lab" / "state"

    @property
    def env_file(self) -> Path:
        return self.root / ".env"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def storage(self) -> Path:
        return self.state / "storage"

    @property
    def run(self) -> Path:
        return self.state / "run"

    def postgres(self) -> Postgres:
        return Postgres(self.state / "postgresql", PG_PORT)

    def rabbit(self) -> Rabbit:
        return Rabbit(self.state / "rabbitmq", RABBIT_PORT)


@dataclass
class Started:
    """What ``up`` leaves running and where to look."""

    settings: dict[str, str]
    portal: str
    env_file: Path
    logs: dict[str, Path]
    health: dict
    processes: dict[str, tuple[int, bool]]  # name -> (pid, started now)


# --- processes we start, and only those ---------------------------------------------------------

def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name start at field 3


def _pidfile(layout: Layout, name: str) -> Path:
    return layout.run / f"{name}.pid"


def alive(layout: Layout, name: str) -> int | None:
    """The pid of the process ``name`` we started, if that very process still runs."""
    path = _pidfile(layout, name)
    try:
        pid_s, ticks = path.read_text().split()[:2]
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    return pid if _start_ticks(pid) == ticks else None


def _spawn(layout: Layout, name: str, argv: list[str], env: dict[str, str]) -> int:
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    with (layout.logs / f"{name}.log").open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, cwd=layout.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # its own process group
    ticks = _start_ticks(proc.pid)
    _pidfile(layout, name).write_text(f"{proc.pid} {ticks}\n")
    return proc.pid


def _stop_process(layout: Layout, name: str, grace: float, say: Say) -> None:
    """SIGTERM to the process we started (it shuts down in order: a worker gives its running cells
    back and tears their containers down), then, after ``grace`` seconds, SIGKILL to whatever is
    left of its process group."""
    pid = alive(layout, name)
    path = _pidfile(layout, name)
    if pid is None:
        if path.exists():
            say(f"{name}: not running (stale pid file removed)")
            path.unlink()
        return
    say(f"{name}: stopping (pid {pid}, SIGTERM)")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group(pid):
        time.sleep(0.2)
    if _group(pid):
        say(f"{name}: still running after {grace:g} s: SIGKILL to its process group")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # started with start_new_session: its group id is its pid
    path.unlink(missing_ok=True)


def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _port_taken(port: int) -> bool:
    """Something listens on (or holds) 127.0.0.1:port; a closed connection's TIME_WAIT does not count,
    as it does not for the servers (they bind with SO_REUSEADDR too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- .env ---------------------------------------------------------------------------------------

def read_env(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a ``.env`` file (comments and other lines ignored)."""
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                found[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return found


def write_env(path: Path, settings: dict[str, str]) -> None:
    """Set ``settings`` in the ``.env`` file, keeping its other lines; mode 600 (it holds passwords)."""
    kept: list[str] = []
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.split("=", 1)[0].strip().removeprefix("export ").strip() not in settings]
    text = "\n".join([*kept, *(f"{k}={v}" for k, v in settings.items())]) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


# --- up and down --------------------------------------------------------------------------------

def _reachable_by_postgres(layout: Layout) -> None:
    """PostgreSQL runs as its own user: every folder above its cluster must let others through."""
    layout.state.mkdir(parents=True, exist_ok=True)
    for folder in (layout.state, layout.state.parent):  # the lab's own folders: opened for passage
        folder.chmod(folder.stat().st_mode | 0o011)
    closed = [str(f) for f in layout.state.parent.parents if not f.stat().st_mode & 0o001]
    if closed:
        raise InfrastructureError(f"PostgreSQL runs as the user postgres, which cannot pass through {closed[0]} "
                                  f"(no search permission for others): `chmod o+x {closed[0]}`, or put the "
                                  f"lab in a folder others can reach")


def _engines(layout: Layout, say: Say) -> tuple[Postgres, Rabbit]:
    _reachable_by_postgres(layout)
    pg, rabbit = layout.postgres(), layout.rabbit()
    if pg.running():
        say(f"PostgreSQL: already running (127.0.0.1:{pg.port}, {pg.data})")
    elif _port_taken(pg.port):
        raise InfrastructureError(f"port {pg.port} on 127.0.0.1 is taken by another program: the service's "
                                  f"PostgreSQL needs it (see `ss -ltnp 'sport = {pg.port}'`)")
    else:
        say(f"PostgreSQL: starting the cluster {pg.data} on 127.0.0.1:{pg.port}")
    pg.start()  # idempotent: initdb the first time; makes sure the role and the database exist
    # (rabbitmqctl before the node's home and cookie exist crashes Erlang, leaving erl_crash.dump)
    if (rabbit.home / ".erlang.cookie").exists() and rabbit.running():
        say(f"RabbitMQ: already running (node {rabbit.node}, 127.0.0.1:{rabbit.port})")
    elif _port_taken(rabbit.port):
        raise InfrastructureError(f"port {rabbit.port} on 127.0.0.1 is taken by another program: the service's "
                                  f"RabbitMQ needs it (see `ss -ltnp 'sport = {rabbit.port}'`)")
    else:
        say(f"RabbitMQ: starting the node {rabbit.node} on 127.0.0.1:{rabbit.port}")
    rabbit.start()
    return pg, rabbit


def wait_health(url: str, seconds: float, died: Callable[[], bool] = lambda: False) -> dict:
    """The health document once the API answers 200; an error naming the last answer otherwise."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/api/v1/health", timeout=5)
            if r.status_code == 200:
                return r.json()
            last = f"HTTP {r.status_code}: {r.text[:300]}"
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if died():
            break
        time.sleep(0.5)
    raise InfrastructureError(f"the API did not answer {url}/api/v1/health with 200 within {seconds:g} s ({last})")


def up(root: Path, port: int = API_PORT, worker_name: str | None = None, say: Say = _quiet,
       timeout: float = 90) -> Started:
    """Bring the service up on this machine (idempotent) and return once the portal answers."""
    layout = Layout(root)
    pg, rabbit = _engines(layout, say)
    layout.storage.mkdir(parents=True, exist_ok=True)
    service_url = f"http://127.0.0.1:{port}"
    settings = {"LAB_DATABASE_URL": pg.url(), "LAB_BROKER_URL": rabbit.url(),
                "LAB_STORAGE": str(layout.storage), "LAB_SERVICE_URL": service_url,
                # the workers' shared secret: only a worker that shows it may say hello and claim cells
                "LAB_WORKER_TOKEN": read_env(layout.env_file).get("LAB_WORKER_TOKEN") or secrets.token_urlsafe(32)}
    write_env(layout.env_file, settings)
    say(f"settings written to {layout.env_file}")

    from lab.catalogue.db import open_catalogue

    say("migrating the database (Alembic, to the newest schema)")
    open_catalogue(settings["LAB_DATABASE_URL"]).dispose()

    env = {**os.environ, **settings, "PYTHONUNBUFFERED": "1"}
    lab = [sys.executable, "-m", "lab"]
    processes: dict[str, tuple[int, bool]] = {}

    pid = alive(layout, "api")
    if pid:
        say(f"API: already running (pid {pid})")
        processes["api"] = (pid, False)
    else:
        if _port_taken(port):
            raise InfrastructureError(f"port {port} on 127.0.0.1 is taken by another program: the API needs it "
                                      f"(choose another with --port, or see `ss -ltnp 'sport = {port}'`)")
        pid = _spawn(layout, "api", [*lab, "serve", "--host", "127.0.0.1", "--port", str(port)], env)
        say(f"API: started (pid {pid}, log {layout.logs / 'api.log'})")
        processes["api"] = (pid, True)
    api_pid = pid
    try:
        health = wait_health(service_url, timeout, died=lambda: alive(layout, "api") != api_pid)
    except InfrastructureError as exc:
        raise InfrastructureError(f"{exc}; the end of {layout.logs / 'api.log'}:\n"
                                  f"{_tail(layout.logs / 'api.log')}") from None

    name = worker_name or f"{socket.gethostname()}-1"
    pid = alive(layout, "worker")
    if pid:
        say(f"worker: already running (pid {pid})")
        processes["worker"] = (pid, False)
    else:
        slots = max(1, min(4, os.cpu_count() or 1))  # cells at once, as `lab run -j` would on this machine
        pid = _spawn(layout, "worker", [*lab, "worker", "--name", name, "--slots", str(slots)], env)
        say(f"worker {name}: started with {slots} slot(s) (pid {pid}, log {layout.logs / 'worker.log'})")
        processes["worker"] = (pid, True)
        time.sleep(3)  # a worker that cannot start (no broker, bad options) says so at once
        if alive(layout, "worker") != pid:
            _pidfile(layout, "worker").unlink(missing_ok=True)
            raise InfrastructureError(f"the worker {name} stopped at once; the end of "
                                      f"{layout.logs / 'worker.log'}:\n{_tail(layout.logs / 'worker.log')}")
    return Started(settings=settings, portal=f"{service_url}/", env_file=layout.env_file,
                   logs={"api": layout.logs / "api.log", "worker": layout.logs / "worker.log",
                         "postgresql": pg.home / "server.log", "rabbitmq": rabbit.home / "log"},
                   health=health, processes=processes)


def down(root: Path, say: Say = _quiet, grace: float = 30) -> None:
    """Stop what ``up`` started in ``root``, and nothing else: the worker and the API by their pid
    files, then the lab's own RabbitMQ node and PostgreSQL cluster under the state folder."""
    layout = Layout(root)
    _stop_process(layout, "worker", grace * 2, say)  # it gives its running cells back first
    _stop_process(layout, "api", grace, say)
    pg, rabbit = layout.postgres(), layout.rabbit()
    if (rabbit.home / ".erlang.cookie").exists() and rabbit.running():
        say(f"RabbitMQ: stopping the node {rabbit.node}")
        rabbit.stop()
    if (pg.data / "PG_VERSION").exists() and pg.running():
        say(f"PostgreSQL: stopping the cluster {pg.data}")
        pg.stop()
    say("stopped; the data stays under " + str(layout.state))
