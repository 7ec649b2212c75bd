"""``provision()``: a usable target for the length of a ``with`` block, whatever its backend.

Backends are providers registered by name (the inventory's ``backend``), as testinfra maps a
URL scheme to a backend class; an unknown name is a clear error. Teardown is in ``finally``, so
it also happens on errors and Ctrl-C; ``lab gc`` covers a controller that was killed outright.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from lab.errors import InputError
from lab.inventory.model import LabSettings, Target
from lab.provision.base import Provider, Provisioned
from lab.provision.docker import DockerProvider
from lab.provision.ssh import BoardProvider

BACKENDS: dict[str, Provider] = {p.name: p for p in (DockerProvider(), BoardProvider())}

__all__ = ["BACKENDS", "Provisioned", "provision"]


def provision(target: Target, run_id: str, lab: LabSettings, layer=None) -> AbstractContextManager[Provisioned]:
    """``layer``: a prepared layer to start a container from (``lab.cache.layers.find``)."""
    try:
        provider = BACKENDS[target.backend]
    except KeyError:
        raise InputError(f"targets.{target.name}.backend", [f"no backend {target.backend!r} (known: "
                                                           f"{', '.join(BACKENDS)})"]) from None
    return provider.provision(target, run_id, lab, layer)
