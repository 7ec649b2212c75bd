"""Supervising the vendor's long-running program inside a target, the way the lab judges it.

The service runs in its own session (``setsid``), as its declared user (``setpriv``), with its
output in a log; the lab kills, restarts and stops it by process group.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass

from lab.errors import ProductFailure
from lab.polling import Backoff
from lab.submission.model import Service
from lab.transport.base import Transport

HOME = "/var/tmp/lab-service"
LOG = f"{HOME}/service.log"
PIDFILE = f"{HOME}/pid"
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
q = shlex.quote


@dataclass
class Readiness:
    ready: bool
    seconds: float
    detail: str


class Supervisor:
    def __init__(self, transport: Transport, spec: Service, extra_env: dict[str, str] | None = None):
        self.t = transport
        self.spec = spec
        self.env = {**spec.env, **(extra_env or {})}
        self.pid: int | None = None
        self.starts = 0
        self.log_file = LOG  # where a start sends its output (the stability suite's restarts keep their own)

    def _launch_command(self) -> str:
        # The submission model checks the keys already; checked again where they meet a shell.
        bad = [k for k, v in self.env.items() if not ENV_KEY.fullmatch(k) or "\0" in v]
        if bad:
            raise ProductFailure("service.env: keys must match [A-Za-z_][A-Za-z0-9_]* and values hold no NUL: "
                                 + ", ".join(repr(k[:40]) for k in bad))
        env = " ".join(f"{k}={q(v)}" for k, v in self.env.items())
        drop = ""
        if self.spec.user != "root":
            u = q(self.spec.user)
            drop = f"setpriv --reuid=$(id -u {u}) --regid=$(id -g {u}) --init-groups "
        return (f"mkdir -p {HOME}; cd /\n{'env ' + env + ' ' if env else ''}setsid {drop}"
                f"sh -c {q('exec ' + self.spec.command)} >>{q(self.log_file)} 2>&1 </dev/null &\n"
                f"echo $! > {PIDFILE}; cat {PIDFILE}")

    def start(self) -> None:
        if self.spec.user != "root" and not self.t.run(f"id -u {q(self.spec.user)}").ok:
            raise ProductFailure(f"service.user {self.spec.user!r} does not exist on the target "
                                 "after install (create it in the package)")
        result = self.t.run(self._launch_command())
        if not result.ok or not result.stdout.strip().isdigit():
            raise ProductFailure(f"the service could not be started:\n{result.evidence()}")
        self.pid = int(result.stdout.strip())
        self.starts += 1

    def alive(self) -> bool:
        return self.pid is not None and self.t.run(f"kill -0 {self.pid}").ok

    def listening(self) -> set[int]:
        out = self.t.run("ss -ltnH; ss -lunH").stdout
        ports = set()
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[3].rpartition(":")[2].isdigit():
                ports.add(int(cols[3].rpartition(":")[2]))
        return ports

    def wait_ready(self, timeout: float | None = None) -> Readiness:
        """Declared ports listening and ``health`` passing, polled until ``ready_timeout``."""
        timeout = self.spec.ready_timeout if timeout is None else timeout
        started = time.monotonic()
        missing: set[int] = set(self.spec.ports)
        health_out = ""
        pace = Backoff(0.2)
        while True:
            elapsed = time.monotonic() - started
            if not self.alive():
                return Readiness(False, elapsed, f"the service exited before it was ready; its log "
                                                 f"ends:\n{self.log_tail()}")
            missing = set(self.spec.ports) - self.listening()
            health_ok = True
            if not missing and self.spec.health:
                r = self.t.run(self.spec.health, timeout=max(5.0, timeout))
                health_ok, health_out = r.ok, r.evidence()
            if not missing and health_ok:
                return Readiness(True, elapsed, "")
            if elapsed > timeout:
                if missing:
                    ports = ", ".join(str(p) for p in sorted(missing))
                    why = f"port {ports} never opened within {timeout:g} s"
                else:
                    why = f"health command kept failing for {timeout:g} s:\n{health_out}"
                return Readiness(False, elapsed, f"{why}\nservice log ends:\n{self.log_tail()}")
            pace.wait()

    def kill9(self) -> None:
        self.t.run(f"kill -KILL -- -{self.pid} 2>/dev/null; kill -KILL {self.pid} 2>/dev/null; true")
        deadline = time.monotonic() + 10
        pace = Backoff(0.1)
        while self.alive() and time.monotonic() < deadline:
            pace.wait()

    def stop(self, timeout: float = 10.0) -> tuple[bool, float]:
        """SIGTERM to the group; True if it ended within ``timeout`` (else it is killed)."""
        started = time.monotonic()
        self.t.run(f"kill -TERM -- -{self.pid} 2>/dev/null; kill -TERM {self.pid} 2>/dev/null; true")
        pace = Backoff(0.1)
        while time.monotonic() - started < timeout:
            if not self.alive():
                return True, time.monotonic() - started
            pace.wait()
        self.kill9()
        return False, time.monotonic() - started

    def rss_kb(self) -> int:
        out = self.t.run(f"ps -o rss= -g {self.pid} 2>/dev/null || ps -o rss= -p {self.pid}").stdout
        return sum(int(x) for x in out.split() if x.isdigit())

    def log_tail(self, lines: int = 20) -> str:
        return self.t.run(f"tail -n {lines} {q(self.log_file)} 2>/dev/null").stdout.rstrip() or "(empty)"

    def log_end(self) -> bytes:
        """The log's last bytes, within the transport's output cap, the cut said first: a service (or
        a stability load command) writing for hours can leave gigabytes that ``log`` would read whole
        into the controller's memory."""
        keep = max(1024, self.t.output_max_bytes - 256)
        f = q(self.log_file)
        return self.t.run(f"n=$(wc -c <{f} 2>/dev/null) || exit 0; [ \"$n\" -gt {keep} ] && "
                          f"printf '[... the first %s bytes cut by the lab ...]\\n' $((n - {keep})); "
                          f"tail -c {keep} {f}").stdout_bytes
