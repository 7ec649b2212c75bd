"""Running the vendor's own tests in the sandboxed runner, answering its ``host.run`` requests
on the real target. The vendor's Python never runs on the lab's host.

Whose fault: the runner image missing, its container not starting or removed from outside, or the
target's transport lost are the lab's (``InfrastructureError``: *broken*). Once the vendor's code
runs in the runner, everything the runner does is the product's: a run past its total time, a
runner that dies before it says ``done``, a line the protocol refuses (``lab.suite.vendor_protocol``),
a runner that writes more than ``[lab.limits] disk_quota`` (the lab then stops it) or an exit status
that says the tests could not run raise ``VendorTestsFailed`` (*failed*), naming what happened and
ending with what the runner printed (the tail of its pytest.log, redacted).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import selectors
import subprocess
import tarfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError, DockerException, NotFound

from lab.errors import CommandTimeout, InfrastructureError, ProductFailure
from lab.observe.quota import disk_watch
from lab.provision.container import remove_container, start_container, written_bytes
from lab.suite.vendor_log import RUNNER_ROOT, as_submitted, collection_error, runner_log, tail
from lab.suite.vendor_protocol import LineReader, ProtocolViolation, RunnerProtocol, VendorResult, shown
from lab.transport.base import redact
from lab.transport.docker import DockerTransport, ExecChannel

__all__ = ["VendorResult", "VendorRun", "VendorTestsFailed", "run_vendor_tests"]

RUNNER_SCRIPT = Path(__file__).with_name("vendor_runner.py")


@dataclass
class VendorRun:
    """A run that kept the protocol to its end: a check per test that reported, pytest's exit."""

    results: list[VendorResult]
    collected: int
    exit: int


class VendorTestsFailed(ProductFailure):
    """The vendor's test run failed as a whole (hung, died, broke the protocol, could not run).

    ``results`` holds the tests that did report, and the one that was running as *failed*, so the
    vendor sees which test it was.
    """

    def __init__(self, message: str, results: list[VendorResult]):
        super().__init__(message)
        self.results = results


def _tests_tar(root: Path, paths: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in paths:
            tar.add(root / rel, arcname=f"sub/{rel}")
    return buf.getvalue()


def _answer(target_transport, command: str, timeout: float) -> dict:
    """Run one of the vendor's commands on the target. A lost target raises (the lab's fault)."""
    try:
        r = target_transport.run(command, timeout=timeout)
        rc, out, err = r.exit_status, r.stdout_bytes, r.stderr_bytes
    except CommandTimeout as exc:
        rc, out, err = 124, b"", str(exc).encode()
    return {"rc": rc, "out": base64.b64encode(out).decode(), "err": base64.b64encode(err).decode()}


class _PastDeadline(Exception):
    """Internal: the run went past its total time."""


def _send(channel: ExecChannel, data: bytes, deadline: float) -> None:
    """Write an answer to the runner's stdin without ever blocking past the deadline.

    A hostile runner may ask and never read its answers; a blocking write would then hang the
    controller forever. A runner already gone is not an error here: its EOF says so next.
    """
    fd = channel.proc.stdin.fileno()
    os.set_blocking(fd, False)
    view = memoryview(data)
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_WRITE)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _PastDeadline
            if not sel.select(min(left, 1.0)):
                continue
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return


def _converse(channel: ExecChannel, protocol: RunnerProtocol, target_transport, command_timeout: float,
              deadline: float) -> bool:
    """Read, check and answer the runner's lines until ``done``: True, or False at EOF.

    Raises ``ProtocolViolation`` on a refused line and ``_PastDeadline`` past the deadline.
    """
    reader = LineReader()
    while not protocol.done:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _PastDeadline
        try:
            chunk = channel.recv(min(1.0, left))
        except TimeoutError:
            continue
        if not chunk:
            return False
        for line in reader.feed(chunk):
            command = protocol.accept(line, time.monotonic())
            if command is not None:
                timeout = max(1.0, min(command_timeout, deadline - time.monotonic()))
                _send(channel, json.dumps(_answer(target_transport, command, timeout)).encode() + b"\n",
                      deadline)
    return True


class RunnerDisk:
    """The runner's writable layer as ``lab.observe.quota``'s disk watch sees it.

    overlay2 on ext4 cannot cap it, and a vendor test writing /dev/zero to a file writes to the
    lab's own disk, so the watch measures it (Docker's ``SizeRw``) every second while the tests
    run and, past ``[lab.limits] disk_quota``, stops the whole runner: the vendor's code runs in
    its pytest process, not only in children of it, so only stopping the container stops the writer.
    Neither call raises (the watch runs in a thread of its own): a runner removed from outside is
    judged by the conversation with it, not here.
    """

    def __init__(self, container):
        self.container = container

    def written_bytes(self) -> int:
        try:
            return written_bytes(self.container)
        except (InfrastructureError, DockerException, OSError):
            return 0

    def kill_new(self) -> int:
        try:
            self.container.kill()
        except (DockerException, OSError):  # already stopped, or gone
            return 0
        return 1


def _removed(container) -> bool:
    """Whether the runner's container was removed, or is being removed, from outside the run.

    The vendor's code can stop its container (it is root there) but never remove it: only the
    lab or an operator can, so a runner that ended that way is the lab's failure, not the product's.
    """
    try:
        container.reload()
    except NotFound:
        return True
    except APIError as exc:
        return "removal in progress" in str(exc).lower()
    return container.status in ("removing", "dead")


def _ended(channel: ExecChannel) -> str:
    """How the runner ended, as far as its ``docker exec`` client tells."""
    try:
        rc = channel.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return "the vendor-test runner closed its channel to the lab before it was done"
    how = f"killed by signal {rc - 128}" if rc > 128 else f"exit status {rc}"
    diag = channel.diagnose()
    return f"the vendor-test runner ended before it was done ({how})" + (f": {diag}" if diag else "")


def start_runner(inv, run_id: str):
    """A fresh runner container, nothing of the vendor's in it yet."""
    from lab.images.runner import IMAGE, runner_target

    try:
        return start_container(runner_target(inv), run_id, inv.model.lab, role="vendor-runner")
    except InfrastructureError as exc:
        raise InfrastructureError(f"{exc} (build it with `lab images build`; {IMAGE} runs vendor tests)") from None


def prestart_runner(inv, run_id: str) -> Future:
    """Start the runner's container in the background while the other checks run (a second or two
    of Docker's work the vendor tests would otherwise wait for); ``run_vendor_tests`` takes it, or
    ``discard_runner`` removes it when they never run."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="vendor-runner")
    started = pool.submit(start_runner, inv, run_id)
    pool.shutdown(wait=False)
    return started


def discard_runner(started: Future | None) -> None:
    if started is not None:
        with contextlib.suppress(Exception):
            remove_container(started.result())


def _remove_later(container) -> None:
    """The runner goes in the background (the check's result does not wait for Docker to remove
    it); not a daemon thread, so the worker's process ends only once it is gone."""
    def work() -> None:
        with contextlib.suppress(Exception):
            remove_container(container)

    threading.Thread(target=work, name="remove-runner").start()


def run_vendor_tests(inv, run_id: str, root: Path, paths: list[str], target_transport,
                     command_timeout: float, total_timeout: float, log: Path,
                     env: dict[str, str] | None = None, started: Future | None = None) -> VendorRun:
    """Run the submission's tests in a fresh runner container (``started``: one started earlier by
    ``prestart_runner``) against ``target_transport``.

    Returns the run when the runner kept the protocol to its end; raises ``VendorTestsFailed``
    (the product's fault) or ``InfrastructureError`` (the lab's) otherwise. The runner's log,
    redacted and bounded, is written to ``log`` either way.
    """
    container = started.result() if started is not None else start_runner(inv, run_id)
    secrets = target_transport.secrets
    runner = DockerTransport("vendor-runner", container.id)
    protocol = RunnerProtocol(secrets)
    channel = None
    try:
        runner.put_tar("/work", _tests_tar(root, paths))
        runner.put_bytes(RUNNER_SCRIPT.read_bytes(), "/lab/vendor_runner.py")
        channel = ExecChannel(container.id, argv=("python3", "/lab/vendor_runner.py", f"--rootdir={RUNNER_ROOT}",
                                                  *[f"{RUNNER_ROOT}/{p}" for p in paths]), env=env)
        reason = None
        disk = RunnerDisk(container)
        with disk_watch(disk, inv.model.lab.limits.disk_quota_bytes, "the vendor-test runner",
                        what="the vendor tests", stopped="the runner") as watch:
            try:
                # A runner the watch stopped ends the conversation too: the quota is the reason then.
                if not _converse(channel, protocol, target_transport, command_timeout,
                                 time.monotonic() + total_timeout) and not watch.breached_at:
                    reason = _ended(channel)
                    if _removed(container):
                        raise InfrastructureError("the vendor-test runner's container was removed from outside "
                                                  "the run")
                    if protocol.ids is None and channel.diagnose():
                        # Nothing came at all and docker itself complained: the runner never started.
                        raise InfrastructureError(f"the vendor-test runner could not start: {channel.diagnose()}")
            except _PastDeadline:
                reason = f"the vendor tests did not finish within {total_timeout:g} s"
            except ProtocolViolation as exc:
                reason = f"the vendor-test runner sent a line the lab refuses: {exc}"
            if watch.check(disk.written_bytes()):  # written between the watch's last look and the end
                disk.kill_new()
        if watch.breached_at:
            reason = watch.message
        ended = time.monotonic()
        channel.close()  # the docker exec client; the runner itself goes with its container
        channel = None
        text = redact(as_submitted(runner_log(container)), secrets)
        log.write_text(text)
        if reason is None:
            reason = protocol.exit_problem()
            if reason is not None and protocol.exit in (2, 4):  # what stopped pytest, in the first line
                cause = collection_error(text)
                reason += f": {cause}" if cause else ""
        if reason is None:
            return VendorRun(list(protocol.results.values()), protocol.collected, protocol.exit)
        reason = redact(reason, secrets)
        context = []
        if protocol.running:
            context.append(f"vendor test {shown(protocol.running[0], secrets)} was running")
        if protocol.not_run():
            context.append(f"{protocol.not_run()} collected test(s) did not run")
        message = reason + (f" ({'; '.join(context)})" if context else "")
        message += "\n\nthe runner printed (end of pytest.log):\n" + (tail(text) or "(nothing)")
        raise VendorTestsFailed(message, protocol.partial(reason, ended))
    finally:
        if channel:
            channel.close()
        runner.close()
        _remove_later(container)
