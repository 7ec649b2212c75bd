"""How long the lab's processes take to start, on this machine.

    .venv/bin/python bench/startup.py [--repeat 5] [--target debian12-x86_64] [--example debian-memcached]

Controller:
1. ``import lab.cli`` with every command registered: the imports ``lab COMMAND`` pays before its
   command starts (``lab run`` enters ``run()`` right after);
2. ``lab --help``;
3. ``lab run EXAMPLE --targets TARGET --dry-run``: start-up, the inventory, the submission, the plan;
4. ``lab run EXAMPLE --targets TARGET`` until it starts its first worker (the catalogue's owner check
   too), stopped there: the part of a run's time that is the controller's own start.

Worker (lab.run.worker: ``lab run`` forks each from a server that imported their modules once; a
worker started as a process of its own, lab.run.worker.worker_command, is what it falls back to):
5. to the first test without a target: the same command without the ``--lab-*`` options (Python,
   pytest, the plugins, the suites' collection; the lab's plugin stays inert), from its start until its
   first test begins, where it is stopped (``pytest.exit``); then the same forked from the server,
   as ``lab run`` starts it (its CPU: the forked worker's own, until its first test);
6. to the first test with ``--target``: the real worker on a real target, likewise (the container
   starts meanwhile, then is torn down); printed with the time to ``provisioned`` (its events.jsonl)
   and to its exit.

Each figure is the fastest and the median of ``--repeat`` runs (wall seconds; CPU seconds beside
them, user + system, which other load on the machine disturbs less). Every run writes to a
temporary folder (a copy of the inventory there), never reports/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.run.worker import worker_command, worker_env  # noqa: E402

PY = sys.executable
TO_WORKER = '''
import os, sys, time
import lab.run.controller as controller

def first_worker(*args, **kwargs):  # the first worker: the controller's start is over
    print(repr(time.time()), flush=True)
    os._exit(0)

controller.start_worker = first_worker
sys.argv[0] = "lab"
from lab.cli import main
main()
'''
FIRST_TEST = '''
import os, time
import pytest

def pytest_runtest_protocol(item, nextitem):
    with open(os.environ["BENCH_FIRST_TEST"], "w") as fh:
        fh.write(f"{time.time()!r} {time.process_time()!r}")
    pytest.exit("bench: the first test was reached", returncode=0)
'''


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``cmd`` and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def figure(label: str, runs: list[tuple[float, ...]]) -> None:
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    print(f"{label:<58} {min(walls):6.2f} s  (median {statistics.median(walls):5.2f}; "
          f"cpu {min(cpus):5.2f} / {statistics.median(cpus):5.2f})", flush=True)


def controller(repeat: int, work: Path, example: Path, target: str) -> None:
    register = "import lab.cli as c; c._register()"
    figure("controller: import lab.cli, commands registered", [timed([PY, "-c", register], cwd=work)
                                                               for _ in range(repeat)])
    figure("controller: lab --help", [timed([PY, "-m", "lab", "--help"], cwd=work) for _ in range(repeat)])
    dry = [PY, "-m", "lab", "run", str(example), "--targets", target, "--inventory", str(work / "targets.toml"),
           "--dry-run", "--output", str(work / "dry")]
    figure("controller: lab run --dry-run (start-up, inventory, submission, plan)",
           [timed(dry, cwd=work) for _ in range(repeat)])
    rows = []
    for i in range(repeat):
        cmd = [PY, "-c", TO_WORKER, "run", str(example), "--targets", target, "--inventory",
               str(work / "targets.toml"), "--catalogue", f"sqlite:///{work / 'catalogue.db'}", "--no-report",
               "--output", str(work / "runs" / f"controller{i}")]
        before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
        done = subprocess.run(cmd, cwd=work, check=True, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows.append((float(done.stdout.split()[-1]) - t0,
                     (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))
    figure("controller: lab run, to its first worker's start", rows)


def plan_for(work: Path, example: Path, target: str, label: str):
    from lab.inventory import load_inventory
    from lab.run.plan import Plan, choose_suites

    inv = load_inventory(work / "targets.toml")
    out = work / "runs" / label
    return Plan(f"bench-startup-{label}", inv.select([target]), choose_suites(None), out, example), inv


def to_first_test(work: Path, cmd: list[str], mark: Path) -> tuple[float, float, float]:
    """(seconds to the first test, cpu seconds of the whole process, seconds to its exit)."""
    (work / "bench_first_test.py").write_text(FIRST_TEST)
    env = {**worker_env(), "BENCH_FIRST_TEST": str(mark),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(work), os.environ.get("PYTHONPATH")]))}
    t0 = time.time()
    wall, cpu = timed([*cmd, "-p", "bench_first_test"], env=env, cwd=work)
    return float(mark.read_text().split()[0]) - t0, cpu, wall


def forked_to_first_test(work: Path, args: list[str], mark: Path) -> tuple[float, float]:
    """(seconds to the first test, cpu seconds of the forked worker until then), forked from the
    server as ``lab run`` does (lab.run.forking), the server's imports done."""
    from lab.run.forking import FORKED, run_pytest

    (work / "bench_first_test.py").write_text(FIRST_TEST)
    if str(work) not in sys.path:
        sys.path.insert(0, str(work))  # the forked worker's path is this process's
    log = work / f"{mark.name}.log"
    log.write_bytes(b"")
    t0 = time.time()
    process = FORKED.Process(target=run_pytest, args=([*args, "-p", "bench_first_test"], str(log),
                                                        {**worker_env(), "BENCH_FIRST_TEST": str(mark)}))
    process.start()
    process.join()
    first, cpu = map(float, mark.read_text().split())
    return first - t0, cpu


def no_target(repeat: int, work: Path, example: Path, target: str) -> None:
    plan, inv = plan_for(work, example, target, "collect")
    cmd = [a for a in worker_command(plan, target, inv.path, example) if not a.startswith(("--lab-", "--alluredir"))]
    figure("worker: to the first test, no target",
           [to_first_test(work, cmd, work / f"collect{i}") for i in range(repeat)])
    from lab.run.forking import preload

    preload()
    args = cmd[cmd.index("pytest") + 1:]
    forked_to_first_test(work, args, work / "forked-warm-up")  # the server's own imports, once
    figure("worker forked from the preloaded server (lab run): to the first test, no target",
           [forked_to_first_test(work, args, work / f"forked{i}") for i in range(repeat)])


def real_target(repeat: int, work: Path, example: Path, target: str) -> None:
    rows = []
    for i in range(repeat):
        plan, inv = plan_for(work, example, target, f"real{i}")
        t0 = time.time()
        first, cpu, wall = to_first_test(work, worker_command(plan, target, inv.path, example), work / f"first{i}")
        events = [json.loads(line) for line in (plan.out / "logs" / target / "events.jsonl").read_text().splitlines()]
        provisioned = next(e["t"] for e in events if e["event"] == "provisioned") - t0
        rows.append((first, cpu, provisioned, wall))
    figure(f"worker: to the first test on {target}", rows)
    print(f"{'  (to provisioned; to exit, the target torn down)':<58} {min(r[2] for r in rows):6.2f} s; "
          f"{min(r[3] for r in rows):5.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--target", default="debian12-x86_64", help="a Docker target of targets.toml ('' to skip 5)")
    ap.add_argument("--example", default="debian-memcached")
    args = ap.parse_args()
    example = ROOT / "examples" / args.example
    with tempfile.TemporaryDirectory(prefix="lab-bench-startup-") as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "targets.toml", work / "targets.toml")
        env_note = " (PYTHONDONTWRITEBYTECODE set: the lab's own modules are compiled at each start)" \
            if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
        print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}{env_note}")
        controller(args.repeat, work, example, args.target or "debian12-x86_64")
        no_target(args.repeat, work, example, args.target or "debian12-x86_64")
        if args.target:
            real_target(max(1, min(args.repeat, 3)), work, example, args.target)


if __name__ == "__main__":
    main()
