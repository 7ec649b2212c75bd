"""An inventory copied away from the lab's folder, without its images/ (a new engineer's first
edit): a recipe it cannot find is said, never hashed as empty; a certificate names the recipe of
the image its target really ran on; ``lab recertify`` says a renewal it could not run with exit 3."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from lab.catalogue.db import open_catalogue
from lab.catalogue.record import record_run
from lab.catalogue.renewal import lab_now
from lab.certs.issue import basis_of
from lab.certs.keys import load_or_create
from lab.errors import InputError
from lab.images.recipe import recipe_for
from lab.inventory import load_inventory
from lab.results.model import TargetResult
from tests.conftest import ROOT
from tests.test_catalogue import write_run

LAYERED = "debian12-postgresql"  # a Dockerfile on the lab's debian12-x86_64


@pytest.fixture
def copied(tmp_path):
    shutil.copy(ROOT / "targets.toml", tmp_path / "targets.toml")
    return load_inventory(tmp_path / "targets.toml")


def test_a_dockerfile_not_found_is_said_with_its_field_and_the_folder_paths_are_relative_to(copied, tmp_path):
    with pytest.raises(InputError) as said:
        recipe_for(copied, copied.model.get(LAYERED))
    text = said.value.render()
    assert f"targets.{LAYERED}.docker.dockerfile.path" in text and str(tmp_path) in text
    assert lab_now(copied).recipes[LAYERED] is None  # unknown, not the hash of an empty file
    lab = load_inventory(ROOT / "targets.toml")
    assert lab_now(copied).recipes["debian12-x86_64"] == recipe_for(lab, lab.model.get("debian12-x86_64")).digest


def test_a_certificate_names_the_recipe_its_target_ran_on(copied):
    ran = TargetResult(verdict="passed", facts={"image_recipe": "c" * 64})
    assert basis_of(copied, LAYERED, ran)["recipe_sha256"] == "c" * 64
    assert basis_of(copied, LAYERED, TargetResult(verdict="passed"))["recipe_sha256"] is None


def test_recertify_exits_3_when_a_due_renewal_could_not_be_run_again(copied, tmp_path):
    key = load_or_create(tmp_path / "key.pem")
    run = write_run(tmp_path / "runs", "run-1", {LAYERED: "passed"}, certify_with=key)
    archive = tmp_path / "acme.tar.gz"
    shutil.make_archive(str(tmp_path / "acme"), "gztar", root_dir=ROOT / "examples" / "acme-hello")
    url = f"sqlite:///{tmp_path / 'catalogue.db'}"
    record_run(open_catalogue(url), run, archive=archive)
    proc = subprocess.run([sys.executable, "-m", "lab", "recertify", "--within", "400", "--catalogue", url,
                           "--inventory", str(tmp_path / "targets.toml"), "-o", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "LAB_SIGNING_KEY": str(tmp_path / "key.pem"),
                               "COLUMNS": "200"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "not run again" in proc.stderr and f"targets.{LAYERED}.docker.dockerfile.path" in proc.stderr
    assert "Traceback" not in proc.stderr
