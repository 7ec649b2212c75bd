"""Image recipes: an unchanged recipe is not rebuilt; a changed one is."""

from __future__ import annotations

import secrets
import time

import pytest

from lab.engine import client
from lab.images.build import build_target, current_recipe
from lab.images.recipe import recipe_for
from lab.inventory import load_inventory

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_default_image_is_labelled_and_not_rebuilt(inventory, built):
    target = built("debian12-x86_64")
    assert current_recipe(target.docker.image) == recipe_for(inventory, target).digest
    started = time.monotonic()
    assert build_target(inventory, target) == "up to date"
    assert time.monotonic() - started < 5


@pytest.fixture
def layered(tmp_path, inventory, built):
    built("debian12-x86_64")
    name = f"lab/test-layer-{secrets.token_hex(4)}"
    (tmp_path / "layer.Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nRUN echo one > /etc/layer\n")
    text = (inventory.path.read_text() + f"""
[[targets]]
name = "layered"
backend = "docker"
facts = {{ os_family = "debian", os_id = "debian", os_version = "12", arch = "x86_64" }}
docker = {{ image = "{name}", dockerfile = {{ path = "layer.Dockerfile", base = "debian12-x86_64" }} }}
""")
    (tmp_path / "targets.toml").write_text(text)
    yield tmp_path, name
    client().images.remove(name, force=True)


def test_dockerfile_layer_is_cached_until_its_recipe_changes(layered):
    folder, image = layered

    def build():
        inv = load_inventory(folder / "targets.toml")
        return build_target(inv, inv.model.get("layered"))

    assert build() == "built"
    assert build() == "up to date"
    (folder / "layer.Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nRUN echo two > /etc/layer\n")
    assert build() == "built"
    out = client().containers.run(image, ["cat", "/etc/layer"], remove=True, network_mode="none")
    assert out == b"two\n"


def test_building_the_whole_default_inventory_covers_boards_and_the_runner(built):
    import subprocess
    import sys

    from tests.conftest import ROOT

    built("debian12-x86_64")
    proc = subprocess.run([sys.executable, "-m", "lab", "images", "build"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "board-debian12-x86_64: board image lab/debian12-x86_64-board ready" in proc.stdout
    assert "vendor-runner:" in proc.stdout


@pytest.mark.parametrize("name", ["debian12-x86_64", "debian12-postgresql"])
def test_an_image_keeps_apts_cache_of_its_lists_valid(built, name):
    """A run's first apt command in a fresh container used 1.4 s to rebuild the cache apt-get clean
    had removed; the image keeps it, and apt finds it current (nothing to rebuild)."""
    target = built(name)
    out = client().containers.run(target.docker.image, ["sh", "-c", "test -s /var/cache/apt/pkgcache.bin && "
                                                        "apt-cache -o Debug::pkgCacheGen=1 stats 2>&1 | head -40"],
                                  remove=True, network_mode="none").decode()
    assert "pkgcache.bin is valid - no need to build any cache" in out, out


def test_the_postgresql_images_cluster_listens_on_5432_whatever_the_build_host_runs(built):
    """pg_createcluster takes the first port free on the build host (the build shares its network):
    a PostgreSQL of the host's own on 5432 once gave the image 5433, and every database check broke."""
    target = built("debian12-postgresql")
    grep = "grep '^port' /etc/postgresql/*/main/postgresql.conf"
    out = client().containers.run(target.docker.image, ["sh", "-c", grep], remove=True, network_mode="none").decode()
    assert out.split()[:3] == ["port", "=", "5432"], out
