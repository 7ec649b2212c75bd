"""Seconds and memory to bring a command's large output through the persistent shell.

    .venv/bin/python bench/output.py [--mib 128] [--target debian12-x86_64] [--local-only]

Each case runs ``head -c N /dev/zero`` (N = 128 MiB by default) through the lab's persistent
shell, first on a local ``sh`` (the controller's own cost, no container), then on a container
target: once with the lab's default cap (1 MiB per stream: head and tail come back, the cut
stated) and once with the cap raised above N, so every byte crosses the pipe and the controller's
buffering is what is measured. Peak memory is the Python heap's (tracemalloc) during the command.

Before issue 16 (``bytes += chunk``, a copy of the whole buffer per 64 KiB read) the uncapped
128 MiB case took 107-215 s and ~410 MB here; the buffer is now a bytearray grown in place and
searched only from where the last search stopped.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

from lab.transport.base import OUTPUT_MAX_BYTES
from lab.transport.channel import PipeChannel
from lab.transport.shell import PersistentShell

ROOT = Path(__file__).resolve().parent.parent


class LocalChannel(PipeChannel):
    """``sh`` on this machine: the controller's side of the cost alone."""

    def __init__(self):
        super().__init__(["sh"])


def measure(run, n: int, cap: int) -> tuple[float, int, int]:
    """(seconds, bytes returned, peak heap bytes) of one command printing ``n`` bytes."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = run(f"head -c {n} /dev/zero", 600, cap)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, len(result.stdout_bytes), peak


def show(where: str, run, n: int) -> None:
    for label, cap in (("capped (default 1 MiB)", OUTPUT_MAX_BYTES), ("uncapped (cap above N)", 2 * n)):
        seconds, got, peak = measure(run, n, cap)
        print(f"  {where:28} {label:24} {seconds:8.2f} s {got / 2**20:9.1f} MiB back "
              f"{peak / 2**20:9.1f} MiB peak heap")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=128, help="output of the command, MiB")
    ap.add_argument("--target", default="debian12-x86_64")
    ap.add_argument("--local-only", action="store_true", help="skip the container")
    ap.add_argument("--inventory", default=str(ROOT / "targets.toml"))
    args = ap.parse_args()
    n = args.mib << 20
    print(f"one command printing {args.mib} MiB through the persistent shell")
    shell = PersistentShell(LocalChannel(), "local")
    try:
        show("local sh", shell.run, n)
    finally:
        shell.close()
    if args.local_only:
        return
    from lab.inventory import load_inventory
    from lab.provision import provision
    from lab.runid import new_run_id

    inv = load_inventory(args.inventory)
    with provision(inv.model.get(args.target), new_run_id("bench"), inv.model.lab) as p:
        show(f"container {args.target}", p.transport.shells.run, n)


if __name__ == "__main__":
    main()
