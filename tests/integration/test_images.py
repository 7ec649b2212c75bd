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
