"""``provision()``: a usable target for the length of a ``with`` block, whatever its backend.

Teardown is in ``finally``, so it also happens on errors and Ctrl-C; ``lab gc`` covers a
controller that was killed outright.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from lab.errors import InfrastructureError
from lab.facts import Facts, gather
from lab.inventory.model import LabSettings, Target
from lab.transport.base import Transport


@dataclass
class Provisioned:
    target: Target
    transport: Transport
    facts: Facts
    handle: object = None  # the container, for backends that have one

    @contextlib.contextmanager
    def online(self) -> Iterator[None]:
        """Network for the lab's own downloads (dependencies from the OS mirror), then none again.

        Boards keep their own network; containers join the fetch bridge only inside this block.
        """
        if self.handle is None:
            yield
            return
        from lab.provision.container import fetch_network

        net = fetch_network()
        net.connect(self.handle)
        try:
            yield
        finally:
            net.disconnect(self.handle, force=True)


@contextlib.contextmanager
def provision(target: Target, run_id: str, lab: LabSettings) -> Iterator[Provisioned]:
    if target.backend == "docker":
        from lab.provision.container import remove_container, start_container
        from lab.transport.docker import DockerTransport

        container = start_container(target, run_id, lab)
        transport = DockerTransport(target.name, container.id)
        transport.default_timeout = lab.limits.command_timeout
        try:
            yield Provisioned(target, transport, gather(transport, target), container)
        finally:
            transport.close()
            remove_container(container)
    else:
        raise InfrastructureError(
            f"{target.name}: the ssh backend is not available in this harness version yet")
