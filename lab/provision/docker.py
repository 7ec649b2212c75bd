"""The docker backend: a fresh hardened container per (run, target), and a twin on the fetch
bridge that downloads the OS packages for it (the target itself never gets a network)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lab.engine import LABEL_RECIPE
from lab.facts import gather
from lab.inventory.model import LabSettings, Target
from lab.provision.base import Provider, Provisioned
from lab.provision.container import remove_container, start_container
from lab.transport.base import Transport
from lab.transport.docker import DockerTransport


@contextlib.contextmanager
def twin_downloader(p: Provisioned) -> Iterator[Transport]:
    twin = start_container(p.target, p.run_id, p.lab, role="fetch", online=True)
    transport = DockerTransport(f"{p.target.name} (downloader)", twin.id)
    try:
        yield transport
    finally:
        transport.close()
        remove_container(twin)


class DockerProvider(Provider):
    name = "docker"

    @contextlib.contextmanager
    def provision(self, target: Target, run_id: str, lab: LabSettings, layer=None) -> Iterator[Provisioned]:
        """``layer``: a prepared ``lab.cache.layers.Layer`` of the target's image to start from."""
        container = start_container(target, run_id, lab, layer=layer.image if layer is not None else None)
        transport = DockerTransport(target.name, container.id)
        transport.default_timeout = lab.limits.command_timeout
        transport.output_max_bytes = lab.limits.output_max_bytes
        try:
            facts = gather(transport, target)
            facts.image_recipe = (container.labels or {}).get(LABEL_RECIPE) or None
            yield Provisioned(target, transport, facts, container, run_id, lab, twin=twin_downloader, layer=layer,
                              layer_pending=layer is not None)
        finally:
            transport.close()
            remove_container(container)
