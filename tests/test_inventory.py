"""The inventory model: the default file, and each kind of invalid input with its path."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lab.errors import InputError
from lab.inventory import load_inventory
from tests.conftest import ROOT

GOOD = """
[[targets]]
name = "t1"
backend = "docker"
facts = { os_family = "debian", os_id = "debian", os_version = "12", arch = "x86_64" }
docker = { image = "lab/t1", debootstrap = { suite = "bookworm" } }
"""


def write(tmp_path, text):
    p = tmp_path / "targets.toml"
    p.write_text(textwrap.dedent(text))
    return p


def problems(tmp_path, text):
    with pytest.raises(InputError) as info:
        load_inventory(write(tmp_path, text))
    return info.value.problems


def test_default_inventory_has_the_buildable_targets_stacks_and_boards(inventory):
    enabled = {t.name: t for t in inventory.model.enabled}
    assert set(enabled) == {"debian12-x86_64", "debian13-x86_64", "debian12-aarch64", "board-debian12-x86_64",
                            "board-debian12-aarch64", "debian12-postgresql", "debian12-mariadb",
                            "debian12-ukui-x86_64"}
    assert enabled["debian12-mariadb"].database.profiles == ["tidb", "oceanbase-mysql"]
    assert enabled["board-debian12-x86_64"].ssh.host == "127.0.0.1"
    assert enabled["debian12-aarch64"].docker.debootstrap.arch == "arm64"
    assert {"deb", "debian", "aarch64"} <= set(enabled["debian12-aarch64"].tags)
    disabled = {t.name: t for t in inventory.model.targets if not t.enabled}
    assert disabled["openeuler2203-x86_64"].docker.image == "openeuler/openeuler:22.03-lts-sp4"
    assert {t.backend for t in disabled.values()} == {"docker", "ssh"}


def test_valid_minimal_inventory_gets_defaults(tmp_path):
    inv = load_inventory(write(tmp_path, GOOD))
    t = inv.model.get("t1")
    assert t.enabled and t.docker.limits.pids == 512 and inv.model.lab.limits.install_timeout == 300
    assert len(inv.sha256) == 64


def test_unknown_key_is_named_with_its_path(tmp_path):
    assert problems(tmp_path, GOOD.replace('image = "lab/t1"', 'imagee = "lab/t1"')) == [
        "targets[t1].docker.image: field required",
        "targets[t1].docker.imagee: unknown key (did you mean 'image'?)",
    ]


def test_all_errors_are_reported_at_once(tmp_path):
    text = GOOD + """
[[targets]]
name = "Bad Name"
backend = "podman"
facts = { os_family = "debian", os_id = "debian", os_version = "12", arch = "sparc" }
"""
    found = problems(tmp_path, text)
    assert "targets[Bad Name].name: must match [a-z0-9][a-z0-9._-]*" in found
    assert "targets[Bad Name].backend: must be 'docker' or 'ssh', given \"podman\"" in found
    assert any(p.startswith("targets[Bad Name].facts.arch:") for p in found)


def test_backend_needs_its_table(tmp_path):
    found = problems(tmp_path, GOOD.replace('backend = "docker"', 'backend = "ssh"'))
    assert found == ["targets[t1]: backend = 'ssh' needs a [targets.ssh] table"]


def test_bad_limits_and_two_recipes(tmp_path):
    text = GOOD.replace(
        'debootstrap = { suite = "bookworm" } }',
        'debootstrap = { suite = "bookworm" }, dockerfile = { path = "x", base = "t1" }, '
        'limits = { memory = "lots", pids = 0 } }')
    found = problems(tmp_path, text)
    assert "targets[t1].docker.limits.memory: must look like 512m or 2g" in found
    assert "targets[t1].docker.limits.pids: must be greater than 0, given 0" in found


def test_a_memory_limit_of_zero_is_no_limit_and_refused(tmp_path):
    text = GOOD.replace('debootstrap = { suite = "bookworm" } }',
                        'debootstrap = { suite = "bookworm" }, limits = { memory = "0" } }')
    assert problems(tmp_path, text) == [
        "targets[t1].docker.limits.memory: must be at least 6m (Docker's smallest; 0 would mean no limit), given 0"]
    assert load_inventory(write(tmp_path, text.replace('"0"', '"6m"'))).model.targets[0].docker.limits.memory == "6m"


@pytest.mark.parametrize("tag", ["aarch64", "arm64", "loongarch64"])
def test_a_tag_naming_another_architecture_is_refused(tmp_path, tag):
    """Planned on it, an aarch64 product failed there as if it were the vendor's fault (a review)."""
    text = GOOD.replace('backend = "docker"', f'backend = "docker"\ntags = ["deb", "{tag}"]')
    assert problems(tmp_path, text) == [f"targets[t1]: tags: {tag} is another architecture than facts.arch "
                                        "(x86_64): products built for it would be planned here"]
    for fine in ("x86_64", "amd64", "desktop"):
        load_inventory(write(tmp_path, text.replace(f'"{tag}"', f'"{fine}"')))


def test_duplicate_names_and_dangling_base(tmp_path):
    text = GOOD + GOOD.replace('debootstrap = { suite = "bookworm" }',
                               'dockerfile = { path = "D", base = "nope" }')
    assert problems(tmp_path, text) == ["(top level): duplicate target names: t1"]


def test_not_toml_and_missing_file(tmp_path):
    assert problems(tmp_path, "[[targets]\n")[0].startswith("not valid TOML")
    with pytest.raises(InputError, match="file not found"):
        load_inventory(tmp_path / "absent.toml")


def test_select_unknown_name_is_input_error(inventory):
    with pytest.raises(InputError, match="no target named 'nope'") as refused:
        inventory.select(["debian12-x86_64", "nope"])
    assert refused.value.source == "--targets"  # the user's option is wrong, not the inventory file
    assert [t.name for t in inventory.select(["uos20-x86_64"])] == ["uos20-x86_64"]


def test_a_target_named_twice_and_a_missing_inventory_for_gc_are_refused(tmp_path):
    for cmd in (["run", "examples/acme-calc", "--targets", "debian12-x86_64,debian12-x86_64", "--dry-run"],
                ["gc", "--inventory", str(tmp_path / "absent.toml")]):
        proc = subprocess.run([sys.executable, "-m", "lab", *cmd], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    assert "debian12-x86_64: named twice" in subprocess.run(
        [sys.executable, "-m", "lab", "run", "examples/acme-calc", "--targets", "debian12-x86_64", "--targets",
         "debian12-x86_64", "--dry-run"], capture_output=True, text=True, cwd=ROOT).stderr


def test_cli_invalid_inventory_exits_2_with_every_error_and_no_traceback(tmp_path):
    path = write(tmp_path, GOOD.replace("imagee", "x").replace('image = "lab/t1"', 'imagee = 1')
                 .replace('os_version = "12", ', ""))
    proc = subprocess.run([sys.executable, "-m", "lab", "targets", "--inventory", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in ("targets[t1].docker.imagee: unknown key", "targets[t1].facts.os_version: field required",
                   "targets[t1].docker.image: field required", str(path)):
        assert needle in proc.stderr
