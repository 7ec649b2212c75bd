"""What a certification costs against what it must do, in one go on this machine.

    .venv/bin/python bench/overhead.py [--example debian-memcached] [--target debian12-x86_64]
                                       [--matrix debian12-x86_64,debian13-x86_64,debian12-postgresql]

1. bare: a ``docker run`` of the target's image with a network that runs ``apt-get update``, installs
   the example's packages with their dependencies from the same mirror the lab's images use, and
   starts the example's server until its port answers;
2. ``lab run`` of the same submission on that target, with the report: cold (an empty dependency
   cache of its own: it downloads, and builds a prepared layer while its watch waits), then warm
   (the first cold run's cache again: nothing downloaded, and the container starts from that
   layer, its OS dependencies already installed);
   with ``--repeat N`` (default 5) the cold, bare and warm runs are each made N times, taken in
   turn (cold, bare, warm, cold...) so a slow spell of the machine falls on all three, and their
   medians compared: on this class of machine one install in a container takes anywhere from 3.5
   to 7 s; beside them, from each run's own events, the dependency phase alone (the target
   provisioned to its packages in place), the part the cache changes, without that spread;
3. the three matrix targets once to fill the cache for each (untimed), then, ``--matrix-repeat`` times
   (default 3) in turn, each alone (warm) and the three with ``-j 3`` (warm); medians compared.

It prints each time, the lab's time against the bare one, warm against cold, and the matrix
against its slowest single target. Warm against cold is also taken round by round (the cold and
warm runs of one round follow each other, so the machine's slow spells mostly fall on both): the
median of those paired differences. The stability watch is a wait the lab's configuration sets
(``[lab.stability] duration``: 10 s here, twelve hours at a centre's full profile); beside the
whole run, each run's own events give the time it waited for nothing but the watch (from its last
check run during the watch to the watch's end), and the lab's work is the run without that wait.
Runs write to a temporary folder (a copy of the inventory there, so the report's history, the
catalogue and the key are the bench's own), never reports/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.inventory import load_inventory  # noqa: E402
from lab.provision.container import FETCH_NETWORK, fetch_network  # noqa: E402
from lab.submission import load_for_lab  # noqa: E402
from lab.suite.registry import DURING_WATCH  # noqa: E402


def bare(image: str, example: Path, inv) -> float:
    """Seconds from ``docker run`` to the server answering, as a vendor's own script would do it."""
    sub = load_for_lab(example, inv.model.lab)
    try:
        debs = " ".join(f"/pkg/{shlex.quote(a.path)}" for a in sub.model.artifacts)
        service = sub.model.service
        port = service.ports[0] if service and service.ports else None
        start = (f"({service.command}) >/dev/null 2>&1 & "
                 f"until bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null; do sleep 0.02; done"
                 if service and port else "true")
    finally:
        sub.cleanup()
    script = ("apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -y -q "
              f"--no-install-recommends install {debs} >/dev/null && {start}")
    fetch_network()  # the bridge the lab's downloaders use: the same route to the same mirror
    t0 = time.monotonic()
    subprocess.run(["docker", "run", "--rm", "--network", FETCH_NETWORK, "-v", f"{example}:/pkg:ro", image,
                    "bash", "-c", script], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def lab_run(work: Path, example: Path, targets: list[str], cache: Path, label: str, jobs: int = 1) -> float:
    out = work / "runs" / label
    env = {**os.environ, "LAB_CACHE": str(cache), "LAB_SIGNING_KEY": str(work / "signing-key.pem"),
           "LAB_CATALOGUE": f"sqlite:///{work / 'catalogue.db'}"}
    cmd = [sys.executable, "-m", "lab", "run", str(example), "--targets", ",".join(targets), "-j", str(jobs),
           "--inventory", str(work / "targets.toml"), "--output", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    took = time.monotonic() - t0
    if proc.returncode not in (0, 1):  # a failed verdict is a fair measurement; a broken run is not
        sys.exit(f"lab run ({label}) exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    # measured, but said: a run that failed early, or watched nothing, is shorter than a passing one
    for result_file in sorted((out / "targets").glob("*.json")):
        result = json.loads(result_file.read_text())
        unwatched = [c for c in result["checks"] if c["id"] == "stability.uptime" and c["outcome"] == "skipped"]
        if result["verdict"] != "passed" or unwatched:
            why = result["reason"] or (unwatched[0]["message"] if unwatched else "")
            print(f"  note: {label} on {result_file.stem} {result['verdict']} in {took:.1f} s: {why[:300]}",
                  flush=True)
    return took


def download_seconds(out: Path) -> float | None:
    """What the cold run's downloads took, as its workers said it (``downloaded in N s``)."""
    found = []
    for events in (out / "logs").glob("*/events.jsonl"):
        for line in events.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "cache" and (m := re.search(r"downloaded in ([\d.]+) s", event.get("text", ""))):
                found.append(float(m.group(1)))
    return sum(found) if found else None


def dependency_phase(out: Path) -> float | None:
    """Seconds from the target provisioned to its packages in place (the ``cache`` event that says
    what was downloaded or taken from the cache): the part of a run the cache changes, read from the
    worker's own events, so the install's and the watch's spread from run to run is not in it."""
    for events in (out / "logs").glob("*/events.jsonl"):
        t = {}
        for line in events.read_text().splitlines():
            event = json.loads(line)
            kind, text = event.get("event"), event.get("text", "")
            if kind == "provisioned" or (kind == "cache" and re.search(r"downloaded in|nothing downloaded", text)):
                t.setdefault(kind, float(event["t"]))
        if "provisioned" in t and "cache" in t:
            return t["cache"] - t["provisioned"]
    return None


def watch_wait(out: Path) -> float | None:
    """Seconds a run waited for nothing but the stability watch: from the later of the watch's start
    and the last check run during it (``lab.suite.registry.DURING_WATCH``) to the watch's first
    judged check, read from the worker's events. None when the run watched nothing."""
    for events in (out / "logs").glob("*/events.jsonl"):
        started, busy = None, None
        for line in events.read_text().splitlines():
            event = json.loads(line)
            kind, check, at = event.get("event"), str(event.get("id", "")), float(event.get("t", 0))
            if kind == "watch-started":
                started = busy = at
            elif started is not None and kind == "check" and check.split(".")[0] in DURING_WATCH:
                busy = at
            elif started is not None and kind == "check" and check.startswith("stability."):
                return max(0.0, at - busy)
    return None


def spread(times: list[float]) -> str:
    return f"median of {len(times)}: {', '.join(f'{x:.1f}' for x in times)}" if len(times) > 1 else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--example", default="debian-memcached")
    ap.add_argument("--target", default="debian12-x86_64")
    ap.add_argument("--matrix", default="debian12-x86_64,debian13-x86_64,debian12-postgresql")
    ap.add_argument("--inventory", default=str(ROOT / "targets.toml"))
    ap.add_argument("--repeat", type=int, default=5, help="bare and warm runs, each, in turn (medians compared)")
    ap.add_argument("--matrix-repeat", type=int, default=3, help="the singles and the matrix, in turn (medians)")
    args = ap.parse_args()
    example = (ROOT / "examples" / args.example).resolve()
    matrix = [t for t in args.matrix.split(",") if t]
    inv = load_inventory(args.inventory)
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        work = Path(tmp)
        shutil.copy(args.inventory, work / "targets.toml")
        (work / "images").symlink_to(Path(args.inventory).resolve().parent / "images")
        t = {}
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start; example {args.example}")
        image = inv.model.get(args.target).docker.image
        colds, downloads, bares, warms, phases = [], [], [], [], {"cold": [], "warm": []}
        waits = []
        for i in range(max(1, args.repeat)):
            fresh = work / f"cache-cold-{i}"  # each cold run with an empty cache of its own
            colds.append(lab_run(work, example, [args.target], fresh, f"cold-{i}"))
            downloads.append(download_seconds(work / "runs" / f"cold-{i}"))
            cache = work / "cache-cold-0"  # the warm runs reuse the first cold run's cache
            bares.append(bare(image, example, inv))
            warms.append(lab_run(work, example, [args.target], cache, f"warm-{i}"))
            waits += [w for kind in phases if (w := watch_wait(work / "runs" / f"{kind}-{i}")) is not None]
            for kind in phases:
                if (seconds := dependency_phase(work / "runs" / f"{kind}-{i}")) is not None:
                    phases[kind].append(seconds)
        t["bare"], t["warm"], t["cold"] = statistics.median(bares), statistics.median(warms), statistics.median(colds)
        said = [d for d in downloads if d is not None]
        download = statistics.median(said) if said else None
        watch = inv.model.lab.stability.duration
        # every matrix target's dependencies in the cache first (untimed), so each single is as warm
        # as the matrix after it: like with like
        lab_run(work, example, matrix, cache, "warm-up", jobs=len(matrix))
        alone, together = {name: [] for name in matrix}, []
        for i in range(max(1, args.matrix_repeat)):
            for name in matrix:
                alone[name].append(lab_run(work, example, [name], cache, f"single-{name}-{i}"))
            together.append(lab_run(work, example, matrix, cache, f"matrix-{i}", jobs=len(matrix)))
        singles = {name: statistics.median(times) for name, times in alone.items()}
        t["matrix"] = statistics.median(together)
        print(f"load {os.getloadavg()[0]:.2f} at the end")
    from lab.cache.layers import orphans  # the prepared layers of the bench's caches, gone with them
    from lab.cache.store import PackageCache

    orphans(PackageCache(work / "cache-cold-0", 0))
    slowest = max(singles, key=singles.get)
    paired = statistics.median(c - w for c, w in zip(colds, warms, strict=True))
    wait = statistics.median(waits) if waits else 0.0
    work_cold, work_warm = t["cold"] - wait, t["warm"] - wait
    rows = [
        (f"bare docker run: apt-get update, install, start ({args.target})", t["bare"], spread(bares)),
        (f"lab run on {args.target}, cold cache", t["cold"], f"{t['cold'] / t['bare']:.1f}x bare; {spread(colds)}"),
        (f"lab run on {args.target}, warm cache", t["warm"], f"{t['warm'] / t['bare']:.1f}x bare, the watch "
                                                             f"included; {spread(warms)}"),
        ("  warm faster than cold by (aim: at least the cold run's download)", paired,
         (f"the cold runs downloaded for {download:.1f} s ({spread(said)}); " if download is not None
          else "nothing was downloaded; ") + f"median of the rounds' differences, "
         f"{t['cold'] - t['warm']:.1f} s between the medians"),
        *([("  the dependency phase (provisioned to packages on the target), cold",
             statistics.median(phases["cold"]), spread(phases["cold"])),
           ("  the dependency phase, warm", statistics.median(phases["warm"]),
            f"saves {statistics.median(phases['cold']) - statistics.median(phases['warm']):.1f} s; "
            f"{spread(phases['warm'])}")] if phases["cold"] and phases["warm"] else []),
        (f"  of which waiting for nothing but the {watch:g} s stability watch", wait,
         f"the rest of the watch ran beside the package and supply checks; {spread(waits)}"),
        ("  the lab's work, cold (the run without that wait)", work_cold,
         f"{work_cold / t['bare']:.1f}x bare (aim 2.5x)"),
        ("  the lab's work, warm", work_warm, f"{work_warm / t['bare']:.1f}x bare (aim 2.5x)"),
        *[(f"lab run on {name} alone (warm)", s, spread(alone[name])) for name, s in singles.items()],
        (f"lab run on the {len(matrix)} with -j {len(matrix)}", t["matrix"],
         f"{t['matrix'] / singles[slowest]:.2f}x its slowest single, {slowest} (aim 1.3x); {spread(together)}"),
    ]
    width = max(len(r[0]) for r in rows)
    for what, secs, note in rows:
        print(f"  {what:{width}}  {secs:6.1f} s  {note}")


if __name__ == "__main__":
    main()
