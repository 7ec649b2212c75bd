"""The service's whole process tree, on this machine's processes through the lab's shell protocol:
a worker that leaves the service's session (``setsid``) is still the service's — sampled, killed
and waited for — and one that escapes the tree altogether but keeps the service's port is caught
when the port stays open after the kill (review: a stub service whose ``setsid`` worker held the
ports passed every kill -9 restart without the server ever restarting)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab.service import Supervisor
from lab.stability import sampler
from lab.submission.model import Service
from tests.test_upgrade_checksums import LocalShellTransport

# The service: a stub that starts a worker in a new session (os.setsid), then waits. With
# ESCAPE=1 the worker also forks twice (reparented to init) and clears its environment before it
# listens: nothing of the tree's rules can see it, only the port can.
SERVICE = textwrap.dedent("""
    import os, socket, sys, time
    port, escape = int(sys.argv[1]), sys.argv[2] == "1"
    if os.fork() == 0:
        os.setsid()
        if escape:
            if os.fork():
                os._exit(0)
            os.execve(sys.executable, [sys.executable, "-c", sys.argv[3], str(port)], {})
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port)); s.listen(); time.sleep(300)
    time.sleep(300)
""")
LISTEN = ("import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); "
          "time.sleep(300)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def transport():
    t = LocalShellTransport()
    yield t
    t.close()


def start(transport, tmp_path, escape: bool) -> tuple[Supervisor, int]:
    port = free_port()
    (tmp_path / "svc.py").write_text(SERVICE)
    command = f"{sys.executable} {tmp_path / 'svc.py'} {port} {int(escape)} \"{LISTEN}\""
    sup = Supervisor(transport, Service(command=command, ports=[port], ready_timeout=20))
    sup.log_file = str(tmp_path / "service.log")
    sup.start()
    assert sup.wait_ready().ready
    return sup, port


def holder(port: int) -> list[int]:
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return [int(p) for p in re.findall(r"pid=(\d+)", out)]


def test_a_worker_that_left_the_session_is_sampled_killed_and_the_port_closes(transport, tmp_path):
    sup, port = start(transport, tmp_path, escape=False)
    worker = holder(port)
    assert worker and worker[0] != sup.pid
    assert os.getsid(worker[0]) != sup.pid  # it did leave the service's session
    assert set(worker) | {sup.pid} <= set(sup.members())
    s = sampler.sample(transport, sup.pid, 0.0, 100, sup.mark)
    assert worker[0] in s.pids and sup.pid in s.pids
    assert sup.kill9() == ""
    assert not sup.alive() and sup.members() == [] and holder(port) == []


def test_a_worker_that_escaped_the_tree_but_kept_the_port_is_said(transport, tmp_path):
    sup, port = start(transport, tmp_path, escape=True)
    escaped = holder(port)
    try:
        assert escaped and escaped[0] not in sup.members()  # invisible to the tree's rules
        said = sup.kill9()
        assert f"declared port(s) {port} (held by pid {escaped[0]}) stayed open" in said, said
        assert "the service never restarted" in said
    finally:
        for pid in escaped:
            os.kill(pid, 9)


def test_stop_waits_for_every_process_of_the_tree(transport, tmp_path):
    sup, port = start(transport, tmp_path, escape=False)
    stopped, _seconds = sup.stop(10)
    assert stopped and sup.members() == [] and holder(port) == []


# A worker that names itself (prctl PR_SET_NAME, 15 bytes) with a newline, ") " and a glob, from a
# folder holding files named like pids and fake /proc lines: /proc/PID/stat shows the name raw.
HOSTILE_NAME = textwrap.dedent("""
    import ctypes, os, sys, time
    os.chdir(sys.argv[1])
    for name in ("0", "1", "a\\n-1 0 1\\n1 0 1"):
        open(name, "w").close()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b") *\\n-1 0 1\\n", 0, 0, 0)
        time.sleep(300)
    time.sleep(300)
""")


def test_a_process_name_with_a_newline_and_a_glob_adds_no_stranger_to_the_tree(transport, tmp_path):
    """Review: a worker named ") *\\n..." beside files named "0" and "a\\n-1 0 1" made the tree read
    -1, PID 1 and every child of PID 1 as the service's: kill -KILL $members would have killed them."""
    (tmp_path / "plant").mkdir()
    (tmp_path / "svc.py").write_text(HOSTILE_NAME)
    stranger = subprocess.Popen(["sleep", "300"])  # a process of this machine that is not the service's
    sup = Supervisor(transport, Service(command=f"{sys.executable} {tmp_path / 'svc.py'} {tmp_path / 'plant'}"))
    sup.log_file = str(tmp_path / "service.log")
    try:
        sup.start()
        deadline = time.monotonic() + 10
        while len(sup.members()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        members = sup.members()
        assert sup.pid in members and len(members) == 2, members
        assert all(p > 1 for p in members) and stranger.pid not in members
        worker = next(p for p in members if p != sup.pid)
        assert b"\n" in Path(f"/proc/{worker}/comm").read_bytes().rstrip(b"\n")  # the name is hostile indeed
        s = sampler.sample(transport, sup.pid, 0.0, 100, sup.mark)
        assert sorted(s.pids) == members
        assert sup.kill9() == ""
        assert stranger.poll() is None and sup.members() == []
    finally:
        stranger.kill()
        stranger.wait()


def test_the_services_own_path_wins_and_the_mark_is_the_labs(transport, tmp_path):
    """Review: the target's PATH was put after service.env, so a vendor's PATH was silently dropped;
    a LAB_SUPERVISED of the vendor's must not replace the lab's mark either."""
    env = {"PATH": "/opt/acme/bin:/usr/bin:/bin", "LAB_SUPERVISED": "0" * 16}
    sup = Supervisor(transport, Service(command="env", env=env))
    sup.log_file = str(tmp_path / "service.log")
    sup.start()
    deadline = time.monotonic() + 10
    while sup.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    printed = (tmp_path / "service.log").read_text().splitlines()
    assert "PATH=/opt/acme/bin:/usr/bin:/bin" in printed
    assert f"LAB_SUPERVISED={sup.mark}" in printed and f"LAB_SUPERVISED={'0' * 16}" not in printed
