"""The lab's transports as a testinfra backend, so suites keep the ``host.*`` API.

Example::

    host = as_testinfra_host(transport)
    assert host.package("libc6").is_installed
"""

from __future__ import annotations

from typing import Any

import testinfra.host
from testinfra.backend.base import BaseBackend
from testinfra.backend.base import CommandResult as TestinfraResult

from lab.transport.base import Transport


class LabBackend(BaseBackend):
    NAME = "lab"

    def __init__(self, transport: Transport, *args: Any, **kwargs: Any):
        self.transport = transport
        super().__init__(transport.name, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> TestinfraResult:
        cmd = self.get_command(command, *args)
        result = self.transport.run(cmd)
        return self.result(result.exit_status, self.encode(cmd), result.stdout_bytes, result.stderr_bytes)

    def get_encoding(self) -> str:
        # Stock backends run python in the target to learn this; targets need not have python.
        return "utf-8"

    def get_pytest_id(self) -> str:
        return f"lab://{self.transport.name}"


def as_testinfra_host(transport: Transport) -> testinfra.host.Host:
    backend = LabBackend(transport)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host
