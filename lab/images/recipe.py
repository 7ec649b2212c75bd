"""The recipe of a target's image, and its hash: an unchanged recipe is never rebuilt."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lab.inventory.load import LoadedInventory
from lab.inventory.model import Target

# Tools the suites rely on inside every target; apt lists stay so dependencies can be resolved later.
TOOLS = ["procps", "iproute2", "ca-certificates", "coreutils", "findutils"]

TOOLS_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
ARG PACKAGES
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES} \\
 && apt-get clean
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
        return f"{self.image}-rootfs:{self.digest[:12]}"


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def recipe_for(inv: LoadedInventory, target: Target) -> Recipe | None:
    """None when the target's image can only be pulled from a registry."""
    spec = target.docker
    if spec is None or not spec.buildable:
        return None
    if spec.debootstrap:
        boot = spec.debootstrap
        packages = sorted({*TOOLS, *boot.packages})
        digest = _sha("debootstrap", boot.model_dump_json(), TOOLS_DOCKERFILE, json.dumps(packages))
        return Recipe(target, digest, TOOLS_DOCKERFILE, None)
    layer = spec.dockerfile
    base = recipe_for(inv, inv.model.get(layer.base))
    text = (inv.root / layer.path).read_text() if (inv.root / layer.path).exists() else ""
    base_digest = base.digest if base else layer.base
    return Recipe(target, _sha("dockerfile", base_digest, text), text, inv.model.get(layer.base).docker.image)


def packages_arg(recipe: Recipe) -> str:
    boot = recipe.target.docker.debootstrap
    return " ".join(sorted({*TOOLS, *boot.packages}))


def dockerfile_path(inv: LoadedInventory, target: Target) -> Path:
    return inv.root / target.docker.dockerfile.path
