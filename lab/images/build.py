"""``lab images build``: debootstrap a rootfs, ``docker import`` it, add the tools layer.

Images carry the hash of their recipe in the ``lab.recipe`` label, so a second build of an
unchanged inventory costs one ``docker inspect`` per target.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from docker.errors import BuildError, ImageNotFound

from lab.arch import from_deb
from lab.engine import LABEL_RECIPE, LABEL_TARGET, client
from lab.errors import InfrastructureError
from lab.images.host import apt_mirror, host_arch, require_binfmt, security_mirror
from lab.images.recipe import Recipe, packages_arg, recipe_for, sources_arg
from lab.inventory.load import LoadedInventory
from lab.inventory.model import Target

Say = Callable[[str], None]


def current_recipe(image: str) -> str | None:
    try:
        return client().images.get(image).labels.get(LABEL_RECIPE)
    except ImageNotFound:
        return None


def _debootstrap(recipe: Recipe, mirror: str, workdir: Path, say: Say) -> None:
    boot = recipe.target.docker.debootstrap
    require_binfmt(from_deb(boot.arch))
    rootfs = workdir / "rootfs"
    cmd = ["debootstrap", f"--variant={boot.variant}", f"--arch={boot.arch}",
           f"--components={','.join(boot.components)}", boot.suite, str(rootfs), mirror]
    emulated = from_deb(boot.arch) != host_arch()
    say(f"debootstrap {boot.suite}/{boot.arch} from {mirror} (usually "
        f"{'3 to 5 minutes: every binary runs under qemu' if emulated else 'about a minute'})")
    log = workdir / "debootstrap.log"
    with log.open("wb") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise InfrastructureError(f"debootstrap failed ({proc.returncode}):\n" + "\n".join(tail))
    say(f"docker import -> {recipe.rootfs_image}")
    archive = workdir / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(archive), "."], check=True)
    repo, tag = recipe.rootfs_image.rsplit(":", 1)
    client().api.import_image_from_file(str(archive), repository=repo, tag=tag)


def _context(dockerfile: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def build_layer(recipe: Recipe, base: str, buildargs: dict[str, str], say: Say) -> None:
    say(f"layer on {base} -> {recipe.image}")
    try:
        client().images.build(
            fileobj=_context(recipe.dockerfile), custom_context=True, tag=recipe.image, rm=True,
            forcerm=True, network_mode="host", buildargs={"BASE": base, **buildargs},
            labels={LABEL_RECIPE: recipe.digest, LABEL_TARGET: recipe.target.name}, pull=False,
        )
    except BuildError as exc:
        lines = [str(x.get("stream", x.get("error", ""))).rstrip() for x in exc.build_log]
        raise InfrastructureError(f"building {recipe.image} failed: {exc.msg}\n" +
                                  "\n".join(lines[-15:])) from None


def build_target(inv: LoadedInventory, target: Target, *, force: bool = False,
                 mirror: str | None = None, say: Say = lambda _m: None) -> str:
    """Build one target's image; returns 'built', 'up to date' or raises with the reason."""
    recipe = recipe_for(inv, target)
    if recipe is None:
        raise InfrastructureError(
            f"{target.name}: image {target.docker.image if target.docker else '-'} has no build "
            "recipe; it must be pulled from the centre's registry, and this lab has none")
    if not force and current_recipe(recipe.image) == recipe.digest:
        return "up to date"
    started = time.monotonic()
    if target.docker.debootstrap:
        mirror = mirror or inv.model.lab.mirror or apt_mirror()
        if force or not _has_image(recipe.rootfs_image):
            with tempfile.TemporaryDirectory(prefix="lab-rootfs-") as tmp:
                _debootstrap(recipe, mirror, Path(tmp), say)
        build_layer(recipe, recipe.rootfs_image, {"PACKAGES": packages_arg(recipe),
                                                  "SOURCES": sources_arg(recipe, mirror, security_mirror(mirror))},
                    say)
    else:
        base_target = inv.model.get(target.docker.dockerfile.base)
        build_target(inv, base_target, mirror=mirror, say=say)
        build_layer(recipe, recipe.base_image, {}, say)
    say(f"built in {time.monotonic() - started:.0f} s")
    return "built"


def _has_image(name: str) -> bool:
    try:
        client().images.get(name)
    except ImageNotFound:
        return False
    return True


def layer_on(inv: LoadedInventory, base: Target, image: str, dockerfile: str, name: str, *,
             force: bool = False, say: Say = lambda _m: None) -> str:
    """``dockerfile`` on a target's image (the lab's own images: the runner, simulated boards),
    rebuilt only when the Dockerfile or the base's recipe changes."""
    build_target(inv, base, say=say)
    digest = hashlib.sha256((dockerfile + recipe_for(inv, base).digest).encode()).hexdigest()
    if not force and current_recipe(image) == digest:
        return "up to date"
    spec = base.model_copy(update={"name": name, "docker": base.docker.model_copy(update={"image": image})})
    build_layer(Recipe(spec, digest, dockerfile, base.docker.image), base.docker.image, {}, say)
    return "built"
