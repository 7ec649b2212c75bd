"""The recipe of a target's image, and its hash: an unchanged recipe is never rebuilt."""

from __future__ import annotations

import json
from dataclasses import dataclass

from lab.errors import InputError
from lab.hashing import sha256_parts
from lab.inventory.load import LoadedInventory
from lab.inventory.model import Target

# Tools the suites rely on inside every target; apt lists stay so dependencies can be resolved later.
TOOLS = ["procps", "iproute2", "ca-certificates", "coreutils", "findutils"]

# A target stands for a maintained installation: the release with its updates and security
# suites, brought up to date when the image is built; the date is kept for the facts. apt's binary
# cache of the lists is made once here, as an installed system keeps it (``apt-get clean`` removes
# it): otherwise every run's first apt command in a fresh container spends 1.4 s (far more on an
# emulated CPU) building it again from the same lists.
TOOLS_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
ARG PACKAGES
ARG SOURCES
RUN printf '%b' "${SOURCES}" > /etc/apt/sources.list \\
 && apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get -y --no-install-recommends upgrade \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES} \\
 && apt-get clean && apt-cache gencaches >/dev/null \\
 && date -u +%Y-%m-%dT%H:%M:%SZ > /etc/lab-image-snapshot
CMD ["sleep", "infinity"]
"""


@dataclass(frozen=True)
class Recipe:
    target: Target
    digest: str
    dockerfile: str | None = None   # content of the layer on top
    base_image: str | None = None   # FROM of that layer

    @property
    def image(self) -> str:
        return self.target.docker.image

    @property
    def rootfs_image(self) -> str:
        """The debootstrapped rootfs, named by what debootstrap alone depends on."""
        boot = self.target.docker.debootstrap
        key = (sha256_parts("rootfs", boot.suite, boot.arch, boot.variant, ",".join(boot.components))
               if boot else self.digest)
        return f"{self.image}-rootfs:{key[:12]}"


def recipe_for(inv: LoadedInventory, target: Target) -> Recipe | None:
    """None when the target's image can only be pulled from a registry."""
    spec = target.docker
    if spec is None or not spec.buildable:
        return None
    if spec.debootstrap:
        boot = spec.debootstrap
        packages = sorted({*TOOLS, *boot.packages})
        digest = sha256_parts("debootstrap", boot.model_dump_json(), TOOLS_DOCKERFILE, json.dumps(packages))
        return Recipe(target, digest, TOOLS_DOCKERFILE, None)
    layer = spec.dockerfile
    base = recipe_for(inv, inv.model.get(layer.base))
    path = inv.root / layer.path
    if not path.is_file():  # never the hash of nothing: a certificate or a renewal would claim it
        raise InputError(str(inv.path), [f"targets.{target.name}.docker.dockerfile.path: {path} not found "
                                         f"(a path in the inventory is relative to its folder, {inv.root})"])
    text = path.read_text()
    base_digest = base.digest if base else layer.base
    return Recipe(target, sha256_parts("dockerfile", base_digest, text), text, inv.model.get(layer.base).docker.image)


def packages_arg(recipe: Recipe) -> str:
    boot = recipe.target.docker.debootstrap
    return " ".join(sorted({*TOOLS, *boot.packages}))


def sources_arg(recipe: Recipe, mirror: str, security: str) -> str:
    """apt's sources for the image: the release, and its updates and security suites unless the
    inventory turns them off (``debootstrap.updates = false``: a frozen release)."""
    boot = recipe.target.docker.debootstrap
    parts = " ".join(boot.components)
    lines = [f"deb {mirror} {boot.suite} {parts}"]
    if boot.updates:
        lines += [f"deb {mirror} {boot.suite}-updates {parts}", f"deb {security} {boot.suite}-security {parts}"]
    return "\\n".join(lines) + "\\n"
