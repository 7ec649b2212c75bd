"""The vendor-test runner image: pytest and testinfra from Debian, on the host-arch base image.

Vendors' own tests are code from outside the lab, so they run in a container of this image (no
network, tight limits), never on the lab's host; they reach the target only through the
controller (``lab.suite.vendor``).
"""

from __future__ import annotations

from lab.errors import InfrastructureError
from lab.images.build import Say, layer_on
from lab.images.host import host_arch
from lab.inventory.load import LoadedInventory
from lab.inventory.model import DockerSpec, ResourceLimits, Target

IMAGE = "lab/vendor-runner"
DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pytest python3-testinfra \\
 && apt-get clean
"""


def base_target(inv: LoadedInventory) -> Target:
    for t in inv.model.targets:
        boot = t.docker.debootstrap if t.docker else None
        if boot and t.facts.arch == host_arch() and t.facts.os_family == "debian":
            return t
    raise InfrastructureError(f"no Debian {host_arch()} target with a debootstrap recipe to build {IMAGE} on")


def runner_target(inv: LoadedInventory) -> Target:
    base = base_target(inv)
    return Target(name="vendor-runner", backend="docker", facts=base.facts,
                  docker=DockerSpec(image=IMAGE, limits=ResourceLimits(memory="512m", pids=256, cpus=1.0)))


def build_runner(inv: LoadedInventory, *, force: bool = False, say: Say = lambda _m: None) -> str:
    return layer_on(inv, base_target(inv), IMAGE, DOCKERFILE, "vendor-runner", force=force, say=say)
