"""What every provisioning backend hands out: a ``Provisioned`` target, and the ``Provider``
contract a backend keeps (after testinfra's backends and tmt's provision plugins).

A provider is registered by name in ``lab.provision.registry``; the inventory's ``backend``
field picks it. Example::

    with provider.provision(target, run_id, lab) as p:
        p.transport.run("uname -m")
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from lab.facts import Facts
from lab.inventory.model import LabSettings, Target
from lab.observe.state import Observer, database_own
from lab.transport.base import Transport


@dataclass
class Provisioned:
    target: Target
    transport: Transport
    facts: Facts
    handle: object = None  # the container, for backends that have one
    run_id: str = ""
    lab: LabSettings | None = None
    # Where the lab downloads what the OS repositories provide; None: the target itself.
    twin: Callable[[Provisioned], AbstractContextManager[Transport]] | None = None
    _observer: Observer | None = None
    # Where the lab's own notes about this target go (the dependency cache's hits and fallbacks):
    # the worker's event log. Never a check's message.
    say: Callable[[str], None] | None = None
    # A prepared layer the container started from (``lab.cache.layers``): the image with the
    # product's OS dependencies already in, as this run's own install would have put them.
    layer: object = None
    layer_pending: bool = False  # until the first install has taken the layer's place (not the upgrade's)

    @contextlib.contextmanager
    def downloader(self) -> Iterator[Transport]:
        """Where the lab downloads what the OS repositories provide, in the target's own state.

        A board has its own network: the target itself. A container never gets one; a twin from the
        same image, on the fetch bridge, downloads instead, and the installer copies the files over.
        No vendor code runs in the twin: it only resolves and downloads packages.
        """
        if self.twin is None:
            yield self.transport
            return
        with self.twin(self) as transport:
            yield transport

    def observer(self) -> Observer:
        """How the lab sees the target's files and processes: from the host for a container (its
        writable layer, out of the vendor's reach), through the target's own tools for a board.
        Made once, before the install, so the processes already running are the baseline; it knows
        the folders the lab's own database server writes on this target (never the product's)."""
        if self._observer is None:
            self._observer = self._make_observer()
            self._observer.own = database_own(self.target.database)
        return self._observer

    def _make_observer(self) -> Observer:
        if self.handle is not None:
            from lab.errors import InfrastructureError
            from lab.observe.overlay import OverlayObserver

            self.handle.reload()
            try:
                return OverlayObserver(self.handle, self.layer.upper if self.layer is not None else None)
            except InfrastructureError:  # another storage driver: the target's own tools, said so
                pass
        from lab.observe.remote import RemoteObserver

        return RemoteObserver(self.transport)


class Provider(abc.ABC):
    """One backend: makes a target usable for the length of a ``with`` block and tears it down
    in ``finally`` (so also on errors and Ctrl-C)."""

    name: str

    @abc.abstractmethod
    def provision(self, target: Target, run_id: str, lab: LabSettings,
                  layer=None) -> AbstractContextManager[Provisioned]:
        """``layer``: a prepared layer of the target's image to start from (``lab.cache.layers``);
        only a backend with images has any (``layers.applies``)."""
