"""``lab worker --name NAME [--targets A,B] [--slots N] [--inventory FILE]``: run cells on this host.

A Celery worker, in this process, with a prefork pool of ``--slots`` processes, consuming only
the queues of the targets it serves (``target.<name>``); by default the inventory's enabled docker
targets whose images are on this host, and the simulated boards running here. It needs only
the broker (``LAB_BROKER_URL``) and the API (``LAB_SERVICE_URL``): it downloads submissions and
uploads results over HTTP, and never touches the database or the signing key.

It says hello to the API at start and every ``heartbeat_s`` (the console lists it; lost cells
are swept). SIGTERM or Ctrl-C stops it: the running cells' harness workers tear their containers
down, each attempt is given back to the queue, then the worker exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from lab.cli.console import out
from lab.cli.options import Inventory, split_names
from lab.errors import InputError

if TYPE_CHECKING:
    from lab.inventory.load import LoadedInventory
    from lab.inventory.model import Target

log = logging.getLogger("lab.worker")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}")
ORPHANS_EVERY_S = 10.0


def default_targets(inv: LoadedInventory) -> list[Target]:
    """The enabled docker targets whose image is on this host, and the simulated boards running here."""
    from docker.errors import DockerException, NotFound

    from lab.engine import client
    from lab.provision.simulated import container_name

    try:
        docker = client()
    except Exception:  # no engine: nothing served by default
        return []
    found = []
    for t in inv.model.enabled:
        try:
            if t.backend == "docker":
                docker.images.get(t.docker.image)
                found.append(t)
            elif t.ssh.simulated_from and docker.containers.get(container_name(t)).status == "running":
                found.append(t)
        except (NotFound, DockerException):
            continue
    return found


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (the pool's processes), from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def _say_hello(ident, stop: threading.Event) -> None:
    """Tell the API who this worker is, now and every heartbeat, until the worker stops; now and
    then, remove the containers of runs whose process is gone (a worker killed mid-cell here)."""
    import time

    from lab.centre.cellrun import Service, collect_orphans

    api = Service(ident.settings.service_url, timeout=10, token=ident.token)
    failing = False
    collected = time.monotonic()
    try:
        while True:
            if time.monotonic() - collected > ORPHANS_EVERY_S:
                collect_orphans()
                collected = time.monotonic()
            try:
                api.hello(ident)
                if failing:
                    log.warning("the API at %s answers again", ident.settings.service_url)
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("the API at %s does not answer the hello: %s", ident.settings.service_url, exc)
                failing = True
            if stop.wait(ident.settings.heartbeat_s):
                return
    finally:
        api.close()


def _first_hello(ident) -> None:
    """Say hello once before consuming: a worker the API refuses (a wrong or missing
    LAB_WORKER_TOKEN) stops here instead of taking cells it could not claim. An API that does not
    answer yet is only a warning: the worker keeps saying hello."""
    import httpx

    from lab.centre.cellrun import Service

    api = Service(ident.settings.service_url, timeout=10, token=ident.token)
    try:
        api.hello(ident)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in (401, 403):
            raise InputError("LAB_WORKER_TOKEN", [f"the API at {ident.settings.service_url} refuses this worker: "
                                                  "its worker token is missing or wrong"]) from None
        log.warning("the API at %s answers the hello with HTTP %s", ident.settings.service_url,
                    exc.response.status_code)
    except httpx.TransportError as exc:
        out.print(f"[magenta]the API at {escape(ident.settings.service_url)} does not answer yet[/] "
                  f"({escape(type(exc).__name__)}); the worker starts and keeps trying", highlight=False)
    finally:
        api.close()


def worker(
    name: str = typer.Option(..., "--name", help="this worker's name, unique in the centre (e.g. the host's)"),
    targets: list[str] = typer.Option(None, "--targets", help="A,B: serve these targets (default: what is here)"),
    slots: int = typer.Option(1, "--slots", min=1, max=64, help="cells run at once"),
    inventory: Path = Inventory,
) -> None:
    """Run the centre's cells on this host: a Celery worker on the targets' queues."""
    from celery import signals

    from lab.centre import tasks
    from lab.centre.cellrun import clean_stale, collect_orphans
    from lab.inventory import load_inventory
    from lab.settings import Settings

    if not NAME.fullmatch(name):
        raise InputError("--name", [f"{name!r}: letters, digits, '.', '_', '@', '-' (at most 200)"])
    inv = load_inventory(inventory)
    named = split_names(targets)
    chosen = inv.select(named) if named else default_targets(inv)
    if not chosen:
        raise InputError("--targets", ["this host serves no target: no enabled docker target's image is here and "
                                       "no simulated board runs; build images (lab images build) or name targets"])
    settings = Settings()
    ident = tasks.WorkerIdentity(name=name, targets=[t.name for t in chosen], slots=slots, inventory=inv.path,
                                 settings=settings, token=tasks.worker_token())
    tasks.IDENTITY = ident  # the pool's processes fork from here and inherit it
    app = tasks.get_app(settings)
    app.conf.task_queues = [tasks.queue_for(t) for t in ident.targets]
    _first_hello(ident)
    clean_stale(name)
    collect_orphans()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per heartbeat
    out.print(f"worker [bold]{escape(name)}[/]: {slots} slot(s) on {escape(', '.join(ident.targets))}; "
              f"broker {escape(settings.broker_url.split('@')[-1])}, API {escape(settings.service_url)}",
              highlight=False)

    stop = threading.Event()

    def ready(**_):
        threading.Thread(target=_say_hello, args=(ident, stop), name="hello", daemon=True).start()

    def shutting_down(**_):
        stop.set()
        for pid in _children(os.getpid()):  # each running cell stops its run and gives it back
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # Celery warns about root: the worker drives Docker as root like `lab run` does, and it accepts
    # JSON messages only (no pickle), which is what that warning is about.
    warnings.filterwarnings("ignore", message="You're running the worker with superuser privileges")
    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutting_down.connect(shutting_down, weak=False)
    w = app.Worker(hostname=f"{name}@{socket.gethostname()}", queues=[tasks.queue_name(t) for t in ident.targets],
                   concurrency=slots, pool="prefork", loglevel="INFO", without_gossip=True, without_mingle=True,
                   without_heartbeat=True, optimization="fair", quiet=True)
    w.start()
    stop.set()
    raise typer.Exit(w.exitcode or 0)

