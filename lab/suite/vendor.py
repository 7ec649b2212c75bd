"""Running the vendor's own tests in the sandboxed runner, answering its ``host.run`` requests
on the real target. The vendor's Python never runs on the lab's host."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from lab.errors import CommandTimeout, InfrastructureError
from lab.provision.container import remove_container, start_container
from lab.transport.base import redact
from lab.transport.docker import DockerTransport, ExecChannel

RUNNER_SCRIPT = Path(__file__).with_name("vendor_runner.py")


@dataclass
class VendorResult:
    name: str
    outcome: str  # passed | failed | skipped
    message: str
    duration_s: float


def _tests_tar(root: Path, paths: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in paths:
            tar.add(root / rel, arcname=f"sub/{rel}")
    return buf.getvalue()


def _answer(target_transport, command: str, timeout: float) -> dict:
    try:
        r = target_transport.run(command, timeout=timeout)
        rc, out, err = r.exit_status, r.stdout_bytes, r.stderr_bytes
    except CommandTimeout as exc:
        rc, out, err = 124, b"", str(exc).encode()
    return {"rc": rc, "out": base64.b64encode(out).decode(), "err": base64.b64encode(err).decode()}


def run_vendor_tests(inv, run_id: str, root: Path, paths: list[str], target_transport,
                     command_timeout: float, total_timeout: float, log: Path,
                     env: dict[str, str] | None = None) -> list[VendorResult]:
    from lab.images.runner import IMAGE, runner_target

    spec = runner_target(inv)
    try:
        container = start_container(spec, run_id, inv.model.lab, role="vendor-runner")
    except InfrastructureError as exc:
        raise InfrastructureError(f"{exc} (build it with `lab images build`; {IMAGE} runs vendor tests)") from None
    runner = DockerTransport("vendor-runner", container.id)
    channel = None
    try:
        runner.put_tar("/work", _tests_tar(root, paths))
        runner.put_bytes(RUNNER_SCRIPT.read_bytes(), "/lab/vendor_runner.py")
        channel = ExecChannel(container.id, argv=("python3", "/lab/vendor_runner.py",
                                                  *[f"/work/sub/{p}" for p in paths]), env=env)
        deadline = time.monotonic() + total_timeout
        buf = b""
        while True:
            while b"\n" not in buf:
                if time.monotonic() > deadline:
                    raise InfrastructureError(f"the vendor tests did not finish within {total_timeout:g} s")
                try:
                    chunk = channel.recv(1.0)
                except TimeoutError:
                    continue
                if not chunk:
                    raise InfrastructureError(f"the vendor-test runner ended early: {channel.diagnose()}")
                buf += chunk
            line, _, buf = buf.partition(b"\n")
            message = json.loads(line)
            if "done" in message:
                break
            channel.send(json.dumps(_answer(target_transport, message["run"], command_timeout)).encode() + b"\n")
        with contextlib.suppress(FileNotFoundError):
            text = runner.get_bytes("/work/pytest.log").decode("utf-8", "replace")
            log.write_text(redact(text, target_transport.secrets))
        return [VendorResult(r["nodeid"].split("::")[-1], "failed" if r["outcome"] == "failed" else r["outcome"],
                             redact(r["message"], target_transport.secrets), r["duration_s"]) for r in message["done"]]
    finally:
        if channel:
            channel.close()
        runner.close()
        remove_container(container)
