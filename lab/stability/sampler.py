"""Samples of a service's process tree, read through ``/proc`` on the target, one command each.

The tree is every process of the service (``lab.process_tree``: its session, the processes that
carry the supervisor's mark, and their descendants), so a worker that leaves the session is still
watched. One sample is one shell command that walks ``/proc`` and prints, per process of the tree,
its state, CPU ticks, threads, resident memory and open descriptors; nothing is installed on the
target and nothing of the vendor's runs. ``comm`` (the second field of ``/proc/PID/stat``) is the
vendor's to choose, so the fields are read after its *last* closing parenthesis.

Example::

    series = watch(transport, leader=1234, duration=10, interval=1, mark=supervisor.mark)
    series.samples[-1].rss_kb
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from lab.errors import CommandTimeout, InfrastructureError, ProductFailure
from lab.process_tree import members_script
from lab.transport.base import Transport

# Per process of the tree: "P pid state utime stime threads rss_kb fds". Fields of /proc/PID/stat
# after "pid (comm) ": $1 = state (field 3), ${12} = utime (14), ${13} = stime (15), ${18} =
# num_threads (20). No VmRSS ("-"): the process is exiting, its memory gone. The whole stat is read
# (a name may hold a newline) and cut after its last ") "; no glob is expanded (``set -f``: a name
# may hold ``*``), in the subshell each command runs in.
SCRIPT = r"""{members}
set -f
{{ read -r s < /proc/$$/stat; }} 2>/dev/null && echo LAB_PROC_READABLE
for p in $members; do
  d=/proc/$p
  s=$(cat "$d/stat" 2>/dev/null) || continue
  r=${{s##*") "}}
  set -- $r
  n=$(ls -U "$d/fd" 2>/dev/null | wc -l)
  m=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "$d/status" 2>/dev/null)
  echo "P ${{d#/proc/}} $1 ${{12}} ${{13}} ${{18}} ${{m:--}} $n"
done
{container}true"""
# A container target: its cgroup's anonymous memory (v2 ``anon``, v1 ``total_rss``; page cache left
# out), every process in it. A worker that leaves the service's tree (a new session, a second fork,
# its environment cleared) is still in its container: its growth shows here, not in the tree's.
CONTAINER = r"""a=$(sed -n 's/^anon \([0-9]*\)$/\1/p' /sys/fs/cgroup/memory.stat 2>/dev/null)
[ -n "$a" ] || a=$(sed -n 's/^total_rss \([0-9]*\)$/\1/p' /sys/fs/cgroup/memory/memory.stat 2>/dev/null)
echo "C ${a:--}"
"""
MAX_PROCESSES = 4096  # more lines than a target's pid limit allows are not read
READABLE = "LAB_PROC_READABLE"  # the sampling shell read its own /proc entry: an empty sample means gone
SAMPLE_TIMEOUT = 60.0
DEAD_STATES = ("Z", "X", "x")


@dataclass
class Process:
    pid: int
    state: str
    cpu_ticks: int
    threads: int
    rss_kb: int
    fds: int


@dataclass
class Sample:
    """The service's tree at ``t`` seconds into the watch (``wall``: seconds since the epoch)."""

    t: float
    wall: float
    leader_alive: bool
    pids: list[int]
    rss_kb: int
    cpu_s: float
    fds: int
    threads: int
    container_kb: int | None = None  # a container target's anonymous memory, every process in it


@dataclass
class Series:
    leader: int
    duration: float
    interval: float
    samples: list[Sample] = field(default_factory=list)
    load: str = ""          # the load command, when one ran beside the watch
    load_ended_early: bool = False

    def to_json(self) -> dict:
        return {"leader": self.leader, "duration_s": self.duration, "interval_s": self.interval,
                "load": self.load, "load_ended_early": self.load_ended_early,
                "samples": [asdict(s) for s in self.samples]}

    @property
    def restarts(self) -> int:
        """Processes of the tree replaced between samples (a worker the service itself restarts)."""
        out = 0
        for a, b in zip(self.samples, self.samples[1:], strict=False):
            if set(a.pids) - set(b.pids) and set(b.pids) - set(a.pids):
                out += 1
        return out


def parse(output: str) -> list[Process]:
    """The ``P`` lines of one sample; anything else (a vendor's odd ``/proc``) is ignored."""
    out = []
    for line in output.splitlines()[:MAX_PROCESSES]:
        cols = line.split()
        exiting = len(cols) == 8 and cols[6] == "-"
        if exiting:
            cols[2], cols[6] = "X", "0"
        if len(cols) != 8 or cols[0] != "P" or not all(c.isdigit() for c in cols[1:2] + cols[3:]):
            continue
        out.append(Process(int(cols[1]), cols[2][:1], int(cols[3]) + int(cols[4]), int(cols[5]), int(cols[6]),
                           int(cols[7])))
    return out


def container_kb(output: str) -> int | None:
    """The ``C`` line of one sample, in KiB; None where there is none (a board) or it was not read."""
    for line in output.splitlines():
        cols = line.split()
        if len(cols) == 2 and cols[0] == "C":
            return int(cols[1]) // 1024 if cols[1].isdigit() else None
    return None


def summarise(t: float, wall: float, leader: int, procs: list[Process], clk_tck: int,
              container: int | None = None) -> Sample:
    live = [p for p in procs if p.state not in DEAD_STATES]
    return Sample(t=round(t, 3), wall=round(wall, 3), leader_alive=any(p.pid == leader for p in live),
                  pids=sorted(p.pid for p in live), rss_kb=sum(p.rss_kb for p in live),
                  cpu_s=round(sum(p.cpu_ticks for p in procs) / clk_tck, 3), fds=sum(p.fds for p in live),
                  threads=sum(p.threads for p in live), container_kb=container)


def clock_ticks(transport: Transport) -> int:
    out = transport.run("getconf CLK_TCK 2>/dev/null || echo 100").stdout.strip()
    return int(out) if out.isdigit() and int(out) > 0 else 100


def sample(transport: Transport, leader: int, t: float, clk_tck: int, mark: str, container: bool = False) -> Sample:
    """One sample. Whose fault, when it cannot be taken: ``/proc`` unreadable on the target (the
    sampling shell cannot read even its own entry) is the lab's (*broken*), never a service that
    died; a sample that takes a minute is a target the service or its load command has swamped
    (a fork bomb, say), which is the product's (*failed*)."""
    for attempt in (1, 2):
        wall = time.time()
        try:
            result = transport.run(SCRIPT.format(members=members_script(leader, mark),
                                                 container=CONTAINER if container else ""), timeout=SAMPLE_TIMEOUT)
        except CommandTimeout:
            raise ProductFailure(f"one sample of the service's processes through /proc took longer than "
                                 f"{SAMPLE_TIMEOUT:g} s at {t:.0f} s into the watch: the target is swamped "
                                 "(the service's processes or its load command)") from None
        if READABLE in result.stdout.splitlines() or result.exit_status <= 128:
            break
        # Killed by a signal: nothing but the service, its load and the lab's own commands runs
        # there, and the lab sends none (a review's leaking service killed the sampler once, and
        # its failure became the lab's). Once more; twice is the product's.
        if attempt == 2:
            raise ProductFailure(f"the lab's sample of the service through /proc was killed (exit "
                                 f"{result.exit_status}, signal {result.exit_status - 128}) twice at {t:.0f} s "
                                 "into the watch: only the service's processes or its load command could")
    if READABLE not in result.stdout.splitlines():
        raise InfrastructureError(f"{transport.name}: /proc cannot be read to sample the service at {t:.0f} s "
                                  f"into the watch (exit {result.exit_status}): {result.stderr.strip()[:300]}")
    return summarise(t, wall, leader, parse(result.stdout), clk_tck, container_kb(result.stdout) if container else None)


def watch(transport: Transport, leader: int, duration: float, interval: float, mark: str,
          sleep: Callable[[float], None] = time.sleep, container: bool = False) -> Series:
    """Sample every ``interval`` s for ``duration`` s (the first at 0, the last at ``duration``);
    stops early at the sample that finds the service gone, the moment stability.uptime reports."""
    series = Series(leader, duration, interval)
    ticks = clock_ticks(transport)
    started = time.monotonic()
    due = 0.0
    while True:
        s = sample(transport, leader, time.monotonic() - started, ticks, mark, container)
        series.samples.append(s)
        if not s.leader_alive or s.t >= duration:
            return series
        due = min(due + interval, duration)
        sleep(max(0.0, due - (time.monotonic() - started)))
