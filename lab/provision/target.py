"""``provision()``: a usable target for the length of a ``with`` block, whatever its backend.

Teardown is in ``finally``, so it also happens on errors and Ctrl-C; ``lab gc`` covers a
controller that was killed outright.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from lab.facts import Facts, gather
from lab.inventory.model import LabSettings, Target
from lab.observe.state import Observer
from lab.transport.base import Transport


@dataclass
class Provisioned:
    target: Target
    transport: Transport
    facts: Facts
    handle: object = None  # the container, for backends that have one

    run_id: str = ""
    lab: LabSettings | None = None
    _observer: Observer | None = None

    def observer(self) -> Observer:
        """How the lab sees the target's files and processes: from the host for a container (its
        writable layer, out of the vendor's reach), through the target's own tools for a board.
        Made once, before the install, so the processes already running are the baseline."""
        if self._observer is None:
            if self.handle is not None:
                from lab.errors import InfrastructureError
                from lab.observe.overlay import OverlayObserver

                self.handle.reload()
                try:
                    self._observer = OverlayObserver(self.handle)
                    return self._observer
                except InfrastructureError:  # another storage driver: the target's own tools, said so
                    pass
            from lab.observe.remote import RemoteObserver

            self._observer = RemoteObserver(self.transport)
        return self._observer

    @contextlib.contextmanager
    def downloader(self) -> Iterator[Transport]:
        """Where the lab downloads what the OS repositories provide, in the target's own state.

        A board has its own network: the target itself. A container never gets one; a twin from the
        same image, on the fetch bridge, downloads instead, and the installer copies the files over.
        No vendor code runs in the twin: it only resolves and downloads packages.
        """
        if self.handle is None:
            yield self.transport
            return
        from lab.provision.container import remove_container, start_container
        from lab.transport.docker import DockerTransport

        twin = start_container(self.target, self.run_id, self.lab, role="fetch", online=True)
        transport = DockerTransport(f"{self.target.name} (downloader)", twin.id)
        try:
            yield transport
        finally:
            transport.close()
            remove_container(twin)


@contextlib.contextmanager
def provision(target: Target, run_id: str, lab: LabSettings) -> Iterator[Provisioned]:
    if target.backend == "docker":
        from lab.provision.container import remove_container, start_container
        from lab.transport.docker import DockerTransport

        container = start_container(target, run_id, lab)
        transport = DockerTransport(target.name, container.id)
        transport.default_timeout = lab.limits.command_timeout
        try:
            yield Provisioned(target, transport, gather(transport, target), container, run_id, lab)
        finally:
            transport.close()
            remove_container(container)
    else:
        from lab.provision.board import provision_board

        with provision_board(target, run_id, lab) as p:
            yield p
