"""[upgrade] and [stability] in a submission: checked at validation, before any target is touched."""

from __future__ import annotations

import hashlib

import pytest

from lab.deploy.upgrade import compare
from lab.errors import InputError
from lab.inventory.model import StabilitySettings
from lab.submission import load_submission

MANIFEST = """schema = 1
[product]
name = "acme-keep"
version = "1.1"
vendor = "ACME"
[[artifacts]]
path = "acme-keep_1.1_amd64.deb"
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "acme-keep_1.1_amd64.deb").write_bytes(b"new")
    (tmp_path / "previous").mkdir()
    (tmp_path / "previous/acme-keep_1.0_amd64.deb").write_bytes(b"old")
    return tmp_path


def problems(path, **kwargs):
    with pytest.raises(InputError) as info:
        load_submission(path, **kwargs)
    return info.value.problems


def test_the_earlier_release_is_found_hashed_and_verified(folder):
    good = hashlib.sha256(b"old").hexdigest()
    (folder / "submission.toml").write_text(
        MANIFEST + f'[upgrade]\nfrom = [{{ path = "previous/acme-keep_1.0_amd64.deb", sha256 = "{good}" }}]\n'
                   'keep = ["/var/lib/acme-keep"]\n')
    sub = load_submission(folder)
    assert sub.sha256["previous/acme-keep_1.0_amd64.deb"] == good
    assert sub.model.upgrade.from_[0].format == "deb"


def test_a_missing_or_altered_earlier_artifact_is_named_by_its_field(folder):
    (folder / "submission.toml").write_text(
        MANIFEST + '[upgrade]\nfrom = [{ path = "previous/acme-keep_1.0_amd64.deb", sha256 = "' + "0" * 64 + '" },\n'
                   '        { path = "previous/acme-keep_0.9_amd64.deb" }]\n')
    found = problems(folder)
    assert any("upgrade.from[0].sha256: mismatch: previous/acme-keep_1.0_amd64.deb has" in p for p in found)
    assert any("upgrade.from[1].path: previous/acme-keep_0.9_amd64.deb not found in the submission" in p
               for p in found)


def test_a_link_as_earlier_artifact_is_refused(folder):
    (folder / "previous/link.deb").symlink_to("/etc/passwd")
    (folder / "submission.toml").write_text(MANIFEST + '[upgrade]\nfrom = [{ path = "previous/link.deb" }]\n')
    assert any("upgrade.from[0].path: previous/link.deb: symbolic link" in p for p in problems(folder))


@pytest.mark.parametrize(("asked", "refusing", "said", "accepting"), [
    (7200, StabilitySettings(max_duration=3600),
     "stability.duration: 7200 s is above this lab's maximum of 3600 s ([lab.stability] max_duration)",
     StabilitySettings(max_duration=7200)),
    # review: ``duration = 1`` under a lab's 10 s watch cut the watch to a second, on a certificate
    (1, StabilitySettings(duration=10),
     "stability.duration: 1 s is below this lab's watch of 10 s ([lab.stability] duration)",
     StabilitySettings(duration=1)),
])
def test_a_watch_outside_the_labs_bounds_is_refused(folder, asked, refusing, said, accepting):
    """A submission may watch for longer than the lab does, up to its maximum; never for less."""
    (folder / "submission.toml").write_text(MANIFEST + f"[stability]\nduration = {asked}\n")
    assert any(said in p for p in problems(folder, stability=refusing))
    assert load_submission(folder, stability=accepting).model.stability.duration == asked


def test_compare_names_missing_and_changed_files():
    before = {"/d/a": "1", "/d/b": "2", "/d/c": "3"}
    assert compare(before, {"/d/a": "1", "/d/c": "9", "/d/new": "4"}) == (["/d/b"], ["/d/c"])


def test_a_load_command_with_a_nul_is_refused(folder):
    """Review: ``load = "x\\u0000y"`` was accepted; the shell would have run a cut command."""
    (folder / "submission.toml").write_text(MANIFEST + '[stability]\nload = "bench\\u0000 --rm -rf"\n')
    assert any(p.startswith("stability.load") and "NUL" in p for p in problems(folder))


def test_a_watch_and_ready_timeouts_that_cannot_fit_the_workers_wall_clock_are_refused(folder):
    """Review: ``[stability] duration = 43200`` (within max_duration) or ``ready_timeout = 3600`` ran
    a target past worker_timeout, where the lab stops it: a failure after that was called *broken*."""
    from lab.inventory.model import Limits

    service = '[service]\ncommand = "/usr/bin/acme-keep"\nports = [8080]\nready_timeout = {ready}\n'
    (folder / "submission.toml").write_text(MANIFEST + service.format(ready=3600))
    found = problems(folder, limits=Limits(worker_timeout=7200), stability=StabilitySettings(duration=10, kills=10))
    assert any(p.endswith("service.ready_timeout: a 10 s watch and 14 waits of up to 3600 s for "
                          "the service to be ready (50410 s) are more than half this lab's wall clock for a target, "
                          "7200 s ([lab.limits] worker_timeout); ask for a shorter watch, ready_timeout or "
                          "install_timeout") for p in found), found
    (folder / "submission.toml").write_text(MANIFEST + service.format(ready=30) + "[stability]\nduration = 43200\n")
    found = problems(folder, limits=Limits(worker_timeout=7200), stability=StabilitySettings(duration=10))
    assert any("a 43200 s watch" in p for p in found), found
    # what fits is accepted: the same watch in a lab whose wall clock allows it
    loaded = load_submission(folder, limits=Limits(worker_timeout=100000), stability=StabilitySettings(duration=10))
    assert loaded.model.stability.duration == 43200


def test_install_steps_that_cannot_fit_the_workers_wall_clock_are_refused_and_the_labs_own_said_as_the_labs(folder):
    """Review: a postinst sleeping within install_timeout, three installs of it, ran the target past
    worker_timeout: the lab stopped it and called it broken. A new engineer: a lab whose own default
    watch could not fit its worker_timeout blamed the vendor's stability.duration, which it never set."""
    from lab.inventory.model import Limits

    (folder / "submission.toml").write_text(MANIFEST + "[limits]\ninstall_timeout = 3600\n")
    found = problems(folder, limits=Limits(worker_timeout=7200, max_install_timeout=3600))
    assert any(p.endswith("limits.install_timeout: 5 steps of up to 3600 s each (install_timeout: downloads, "
                          "installs, the purge, the vendor's tests) come to 18000 s, more than this lab's wall clock "
                          "for a target, 7200 s ([lab.limits] worker_timeout); ask for a shorter install_timeout")
               for p in found), found
    (folder / "submission.toml").write_text(MANIFEST + '[service]\ncommand = "/usr/bin/acme-keep"\nports = [80]\n')
    found = problems(folder, limits=Limits(worker_timeout=8, install_timeout=1),
                     stability=StabilitySettings(duration=10))
    assert any("this lab's own settings: a 10 s watch" in p and "a lab engineer must raise" in p for p in found), found
