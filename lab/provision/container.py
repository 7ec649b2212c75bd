"""One hardened container per (run, target), labelled so nothing outlives its run.

Hardening by default: no network, the inventory's memory/pids/cpu limits with no swap, every
capability dropped but those package installation needs, no new privileges, an init as PID 1
so killed services are reaped.
"""

from __future__ import annotations

import os
import re
import secrets

from docker.errors import APIError, ImageNotFound, NotFound

from lab.engine import LABEL_ROLE, LABEL_RUN, LABEL_TARGET, client
from lab.errors import InfrastructureError
from lab.images.build import current_recipe
from lab.images.host import require_binfmt
from lab.inventory.load import suggest
from lab.inventory.model import LabSettings, ResourceLimits, Target
from lab.observe.overlay import docker_files_bytes

LABEL_PID = "lab.pid"

# What dpkg/rpm and maintainer scripts need (chown files, create users, set file caps); nothing more.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                "SETFCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "AUDIT_WRITE"]


def container_name(run_id: str, target: str) -> str:
    """Readable in ``docker ps``; the suffix keeps two runs started in the same second apart."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", f"lab-{run_id}-{target}")[:110] + "-" + secrets.token_hex(3)


def _ensure_image(target: Target, lab: LabSettings) -> str:
    image = target.docker.image
    try:
        client().images.get(image)
        return image
    except ImageNotFound:
        pass
    if target.docker.buildable:
        build = suggest(f"lab images build {target.name}")  # keeps the user's --inventory
        raise InfrastructureError(f"image {image} is not built yet: run `{build}`")
    if not lab.registry:
        raise InfrastructureError(f"image {image} is absent and this lab has no registry to pull it from")
    try:
        client().images.pull(f"{lab.registry.rstrip('/')}/{image}")
    except APIError as exc:
        raise InfrastructureError(f"pulling {image} from {lab.registry} failed: {exc.explanation}") from None
    return image


FETCH_NETWORK = "lab-fetch"


def fetch_network():
    """The bridge a target joins only while the lab downloads dependencies for it."""
    try:
        return client().networks.get(FETCH_NETWORK)
    except NotFound:
        try:
            return client().networks.create(FETCH_NETWORK, driver="bridge", labels={LABEL_ROLE: "fetch"})
        except APIError:  # created meanwhile by a parallel worker
            return client().networks.get(FETCH_NETWORK)


# The container's process 1: it reaps orphans and ignores every signal sent from inside, which the
# kernel then never delivers to a namespace's init (SIGKILL included). With Docker's init (tini),
# a review's vendor test ran `kill -TERM 1`: the target stopped, and the run was called broken.
KEEPER = ["bash", "-c", 'trap "" TERM INT HUP QUIT USR1 USR2 PIPE ALRM; while :; do sleep 2147483647 & wait; done']


def start_container(target: Target, run_id: str, lab: LabSettings, role: str = "target", online: bool = False,
                    layer: str | None = None):
    """Start the container; the caller owns it and must remove it (``remove_container``).

    Targets never have a network. ``online`` is for the lab's own downloader beside a target.
    ``layer``: the id of a prepared layer of the target's image to start from (``lab.cache.layers``).
    """
    require_binfmt(target.facts.arch)
    image = _ensure_image(target, lab)
    recipe = current_recipe(image) or ""
    # The downloader is the lab's own tool beside the target: the lab's default limits, not the
    # target's (a target set to 24 MiB left apt no room to resolve and the download was killed).
    limits = ResourceLimits() if online else target.docker.limits
    name = container_name(run_id, f"{target.name}-{role}" if role != "target" else target.name)
    try:
        container = client().containers.run(
            layer or image, command=KEEPER, detach=True, name=name, hostname=target.name[:63],
            labels={LABEL_RUN: run_id, LABEL_TARGET: target.name, LABEL_ROLE: role,
                    LABEL_PID: str(os.getpid()), "lab.recipe": recipe},
            **({"network": fetch_network().name} if online else {"network_mode": "none"}),
            mem_limit=limits.memory, memswap_limit=limits.memory,
            pids_limit=limits.pids, nano_cpus=int(limits.cpus * 1e9), init=False, privileged=False,
            cap_drop=["ALL"], cap_add=CAPABILITIES, security_opt=["no-new-privileges"],
        )
    except APIError as exc:
        raise InfrastructureError(f"{target.name}: cannot start a container from {image}: "
                                  f"{exc.explanation}") from None
    return container


def written_bytes(container) -> int:
    """What the container wrote beyond its image: docker's ``SizeRw`` (its writable layer).

    overlay2 on ext4 cannot cap that layer (``--storage-opt size`` needs xfs with project quotas),
    so the lab measures it and fails a run that wrote more than ``[lab.limits] disk_quota``. No
    tmpfs on /tmp or /var/tmp instead: it would be charged to the container's memory limit (the
    staged packages in /var/tmp/lab-staging can be gigabytes, the service's home is there too),
    while the product could still write anywhere else; and writes there would be invisible here.
    Docker walks the layer to answer, so this costs about as much as ``du`` on it. The files Docker
    mounts from the lab's disk (/etc/hosts...) count too.
    """
    cid = getattr(container, "id", container)
    found = client().api.containers(all=True, filters={"id": cid}, size=True)  # GET /containers/json?size=1
    if not found:
        raise InfrastructureError(f"container {cid[:12]} is gone: cannot measure what it wrote")
    return int(found[0].get("SizeRw") or 0) + docker_files_bytes(getattr(container, "attrs", None) or {})


def remove_container(container) -> None:
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
    except APIError as exc:
        if "already in progress" not in str(exc):
            raise
