"""Supervising the vendor's long-running program inside a target, the way the lab judges it.

The service runs in its own session (``setsid``), as its declared user (``setpriv``), marked in its
environment, with its output in a log; the lab kills, restarts and stops every process of its tree
(``lab.process_tree``), not only its process group, and after a kill requires its declared ports
to be closed: a worker that left the session and kept the ports would otherwise pass every
restart without the service ever restarting.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from dataclasses import dataclass

from lab.errors import ProductFailure
from lab.polling import Backoff
from lab.process_tree import MARK, members_script, parse_pids
from lab.reasons import HEALTH_FAILING, PORT_NEVER_OPENED, PORTS_HELD, PROCESSES_LEFT, SERVICE_EXITED
from lab.submission.model import Service
from lab.transport.base import Transport
from lab.transport.shell import VENDOR_PATH

HOME = "/var/tmp/lab-service"
PORT_SETTLE_S = 3.0  # a killed process's listening socket may outlive it this long, owned by no one
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
        self.mark = secrets.token_hex(8)  # in the environment of every process it starts
        self.starts = 0
        self.log_file = LOG  # where a start sends its output (the stability suite's restarts keep their own)

    def _launch_command(self) -> str:
        # The submission model checks the keys already; checked again where they meet a shell.
        bad = [k for k, v in self.env.items() if not ENV_KEY.fullmatch(k) or "\0" in v]
        if bad:
            raise ProductFailure("service.env: keys must match [A-Za-z_][A-Za-z0-9_]* and values hold no NUL: "
                                 + ", ".join(repr(k[:40]) for k in bad))
        # The target's own PATH for the vendor's program (the lab's commands use the system's only),
        # before the vendor's variables (a PATH in service.env wins: env keeps the last), the mark
        # last. setsid and setpriv by the paths the lab's own PATH finds: the vendor's PATH could
        # put a setpriv of its own first, and the drop to service.user would not happen.
        env = " ".join([VENDOR_PATH] + [f"{k}={q(v)}" for k, v in self.env.items()] + [f"{MARK}={self.mark}"])
        drop = ""
        if self.spec.user != "root":
            u = q(self.spec.user)
            drop = f'"$(command -v setpriv)" --reuid=$(id -u {u}) --regid=$(id -g {u}) --init-groups '
        return (f'mkdir -p {HOME}; cd /\nenv {env} "$(command -v setsid)" {drop}'
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
        """The leader is running: present in ``/proc`` and not a zombie (``kill -0`` succeeds on a
        killed leader its parent, the lab's shell, has not reaped yet)."""
        if self.pid is None:
            return False
        state = self.t.run(f"sed -n 's/^State:[[:space:]]*\\(.\\).*/\\1/p' /proc/{int(self.pid)}/status 2>/dev/null")
        return state.stdout.strip() not in ("", "Z", "X")

    def members(self) -> list[int]:
        """Every process of the service's tree now (``lab.process_tree``)."""
        if self.pid is None:
            return []
        return parse_pids(self.t.run(members_script(self.pid, self.mark) + '\necho "$members"').stdout)

    def _signal_tree(self, signal: str) -> None:
        """``signal`` to the leader's group and to every process of the tree."""
        self.t.run(f"{members_script(self.pid, self.mark)}\nkill -{signal} -- -{self.pid} 2>/dev/null; "
                   f"[ -n \"$members\" ] && kill -{signal} $members 2>/dev/null; true")

    def _ports_held(self) -> dict[int, str]:
        """The declared ports still listening, each with who holds it (``ss -p``: pid and name)."""
        if not self.spec.ports:
            return {}
        out = self.t.run("ss -ltnpH; ss -lunpH").stdout
        held: dict[int, str] = {}
        for line in out.splitlines():
            cols = line.split(None, 5)
            port = cols[3].rpartition(":")[2] if len(cols) >= 4 else ""
            if port.isdigit() and int(port) in self.spec.ports:
                who = ", ".join(f"pid {p}" for p in re.findall(r"pid=(\d+)", line)[:4]) or "a process"
                held[int(port)] = who
        return held

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
                return Readiness(False, elapsed, SERVICE_EXITED.say(said="\n" + self.log_tail()))
            missing = set(self.spec.ports) - self.listening()
            health_ok = True
            if not missing and self.spec.health:
                r = self.t.run(f"{VENDOR_PATH}; export PATH; {self.spec.health}", timeout=max(5.0, timeout))
                health_ok, health_out = r.ok, r.evidence()
            if not missing and health_ok:
                return Readiness(True, elapsed, "")
            if elapsed > timeout:
                if missing:
                    ports = ", ".join(str(p) for p in sorted(missing))
                    why = PORT_NEVER_OPENED.say(ports=ports, seconds=f"{timeout:g}")
                else:
                    why = HEALTH_FAILING.say(seconds=f"{timeout:g}", said="\n" + health_out)
                return Readiness(False, elapsed, f"{why}\nservice log ends:\n{self.log_tail()}")
            pace.wait()

    def kill9(self) -> str:
        """SIGKILL to every process of the tree, again while any is left (one may fork meanwhile);
        "" when the tree is gone and its declared ports are closed, else what was left, said."""
        deadline = time.monotonic() + 10
        pace = Backoff(0.1)
        while True:
            self._signal_tree("KILL")
            left = self.members()
            if not left or time.monotonic() > deadline:
                break
            pace.wait()
        if left:
            return PROCESSES_LEFT.say(pids=", ".join(map(str, left[:10])))
        held = self._ports_held()
        settle = time.monotonic() + PORT_SETTLE_S
        while held and all(who == "a process" for who in held.values()) and time.monotonic() < settle:
            # no process shows the socket: the killed one is still ending, its kernel side closing it
            # (on a loaded machine a review saw the port listed for a moment, then gone)
            pace.wait()
            held = self._ports_held()
        if held:
            return PORTS_HELD.say(held="; ".join(f"{port} (held by {who})" for port, who in sorted(held.items())))
        return ""

    def stop(self, timeout: float = 10.0) -> tuple[bool, float]:
        """SIGTERM to every process of the tree; True if all ended within ``timeout`` (else they
        are killed)."""
        started = time.monotonic()
        self._signal_tree("TERM")
        pace = Backoff(0.1)
        while time.monotonic() - started < timeout:
            if not self.members():
                return True, time.monotonic() - started
            pace.wait()
        self.kill9()
        return False, time.monotonic() - started

    def rss_kb(self) -> int:
        """Resident memory of the whole tree, from ``/proc`` (no ``ps``: one less tool to trust)."""
        out = self.t.run(members_script(self.pid, self.mark) + "\nfor p in $members; do "
                         "sed -n 's/^VmRSS:[[:space:]]*\\([0-9]*\\).*/\\1/p' /proc/$p/status 2>/dev/null; done").stdout
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
