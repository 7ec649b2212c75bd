"""Wall time of a run on three targets in parallel against the slowest of them alone.

    .venv/bin/python bench/matrix.py [SUBMISSION] [--targets A,B,C]

Each target is first run alone, then all of them together with -j 3, in one invocation, so the
figures compare like with like. Parallel is worth it while the ratio stays well under the number
of targets (the goal: under 1.5).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(submission: str, targets: list[str], jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lab", "run", submission, "--targets", ",".join(targets),
                               "-j", str(jobs), "--no-report", "--output", f"{tmp}/out"],
                              cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"lab run exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("submission", nargs="?", default=str(ROOT / "examples/acme-calc"))
    ap.add_argument("--targets", default="debian12-x86_64,debian13-x86_64,debian12-aarch64")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the median is shown")
    args = ap.parse_args()
    targets = args.targets.split(",")
    timed_run(args.submission, targets[:1], 1)  # warm-up: page cache, image layers

    def median(targets_: list[str], jobs: int) -> float:
        return statistics.median(timed_run(args.submission, targets_, jobs) for _ in range(args.repeat))

    alone = {t: median([t], 1) for t in targets}
    together = median(targets, len(targets))
    slowest = max(alone.values())
    print(f"submission {Path(args.submission).name}, median of {args.repeat} runs each")
    for t, s in alone.items():
        print(f"  {t:24} alone     {s:6.2f} s")
    print(f"  {'all ' + str(len(targets)):24} -j {len(targets)}      {together:6.2f} s")
    print(f"parallel / slowest single = {together / slowest:.2f}  (sum of singles {sum(alone.values()):.2f} s)")


if __name__ == "__main__":
    main()
