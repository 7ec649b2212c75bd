"""The Docker engine, reached once per process; its absence is the lab's fault, said plainly."""

from __future__ import annotations

import functools

import docker
from docker.errors import DockerException

from lab.errors import InfrastructureError

LABEL_RUN = "lab.run"
LABEL_TARGET = "lab.target"
LABEL_RECIPE = "lab.recipe"
LABEL_ROLE = "lab.role"


@functools.cache
def client() -> docker.DockerClient:
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except DockerException as exc:
        raise InfrastructureError(
            f"no Docker engine answers ({exc.__class__.__name__}); run ./labw setup, or start dockerd"
        ) from None
    return c
