"""One worker per target: a pytest session over the suites, in its own process.

A process per target keeps targets apart (a crash or hang in one cannot take the others), lets
them run truly in parallel, and gives each its own pytest and Allure state. It is forked from the
server that imported what every worker needs (``lab.run.forking``), else started afresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.run.forking import Forked, fork_pytest
from lab.run.plan import Plan
from lab.suite.registry import suite_files, suites_dir


@dataclass
class Worker:
    target: str
    proc: subprocess.Popen | Forked
    log: Path
    started: float = field(default_factory=time.monotonic)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


# The only plugins a worker needs, named: entry-point plugins are not loaded (the scan of every
# installed distribution, and plugins such as anyio's that import their machinery at start-up), and
# only these two modules are marked for assertion rewriting, whatever folder the run starts in.
PLUGINS = ("lab.plugin", "allure_pytest.plugin")


def worker_args(plan: Plan, target: str, inventory: Path, submission: Path,
                digests: dict[str, str] | None = None) -> list[str]:
    """pytest's arguments for a worker."""
    folder = suites_dir()
    return [*suite_files(), "-c", str(folder / "pytest.ini"),
            "--rootdir", str(folder), "-v", "--tb=short", *(a for p in PLUGINS for a in ("-p", p)),
            f"--lab-target={target}", f"--lab-inventory={inventory}", f"--lab-submission={submission}",
            f"--lab-digests={json.dumps(digests or {})}",
            f"--lab-run={plan.run_id}", f"--lab-out={plan.out}", f"--lab-suites={','.join(plan.suites)}",
            f"--alluredir={plan.out / 'allure-results'}"]


def worker_command(plan: Plan, target: str, inventory: Path, submission: Path,
                   digests: dict[str, str] | None = None) -> list[str]:
    """The worker as a process of its own (bench/startup.py times this one); run it with ``worker_env()``."""
    return [sys.executable, "-m", "pytest", *worker_args(plan, target, inventory, submission, digests)]


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def start_worker(plan: Plan, target: str, inventory: Path, submission: Path,
                 digests: dict[str, str] | None = None) -> Worker:
    """``submission``: the controller's checked, unpacked folder (never the archive again), with the
    artifacts' ``digests`` it computed, so no worker unpacks or hashes what the controller did."""
    logs = plan.out / "logs" / target
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "pytest.log"
    log.write_bytes(b"")
    forked = fork_pytest(worker_args(plan, target, inventory, submission, digests), str(log), worker_env(),
                         name=f"worker {target}")
    if forked is not None:
        return Worker(target, forked, log)
    with log.open("wb") as fh:  # no server: a process of its own
        # A session of its own: a terminal Ctrl-C reaches the controller only, which then stops
        # each worker once, so a second SIGINT cannot cut short a worker's teardown.
        proc = subprocess.Popen(worker_command(plan, target, inventory, submission, digests), stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env=worker_env())
    return Worker(target, proc, log)
