"""A prepared layer seen from the host: the observer must see the same files as in a run that
installed the OS dependencies into its own writable layer (lab.observe.overlay, lab.cache.layers).

The folders are built by hand as overlay2 lays them out (whiteouts are 0/0 character devices,
an opaque folder has ``trusted.overlay.opaque``), so this needs root, as the lab does."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lab.observe.overlay import OverlayObserver

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted xattrs need root")


def _file(root: Path, path: str, data: bytes = b"x", mode: int = 0o644) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    p.chmod(mode)


def _whiteout(root: Path, path: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(p, 0o600 | 0o020000, os.makedev(0, 0))


def _opaque(root: Path, path: str) -> None:
    p = root / path.lstrip("/")
    p.mkdir(parents=True, exist_ok=True)
    os.setxattr(p, "trusted.overlay.opaque", b"y")


class _Container:
    def __init__(self, upper: Path, lowers: list[Path]):
        self.attrs = {"GraphDriver": {"Name": "overlay2", "Data": {
            "UpperDir": str(upper), "MergedDir": str(upper), "LowerDir": ":".join(map(str, lowers))}},
            "State": {"Pid": os.getpid()}}


def _seen(observer: OverlayObserver) -> dict[str, tuple]:
    """What the findings read of each entry (not when it was written: that differs by design)."""
    return {p: (e.kind, e.mode, e.size, e.existed, e.link, e.digest, e.image_digest)
            for p, e in observer.state().entries.items()}


# The image, the OS dependencies' install (a new library, an edited file of the image's, a removed
# one), then the product's install and purge: a new file, an OS dependency's file rewritten and one
# removed, the dependencies' folder replaced by an opaque one, a persistent file edited.
DEPS_WRITE = {"/usr/lib/libdep.so": b"dep", "/usr/share/dep/a": b"a", "/usr/share/dep/b": b"b",
              "/etc/ld.so.cache": b"image+dep", "/usr/bin/sudo": b"sudo"}
DEPS_REMOVE = ["/usr/share/old"]
PRODUCT_WRITE = {"/usr/bin/acme": b"acme", "/usr/bin/sudo": b"trojan", "/etc/environment": b"LD_PRELOAD=x"}
PRODUCT_REMOVE = ["/usr/share/dep/b"]


@pytest.fixture
def image(tmp_path) -> Path:
    base = tmp_path / "image"
    for path, data in {"/etc/ld.so.cache": b"image", "/usr/share/old": b"old", "/etc/environment": b"",
                       "/usr/bin/ls": b"ls"}.items():
        _file(base, path, data)
    (base / "usr/share/dep").mkdir(parents=True)  # a folder the image already had
    return base


def _apply(root: Path, writes: dict[str, bytes], removes: list[str], in_lower) -> None:
    for path, data in writes.items():
        _file(root, path, data, 0o4755 if path == "/usr/bin/sudo" else 0o644)
    for path in removes:
        target = root / path.lstrip("/")
        if target.exists():
            target.unlink()
        if in_lower(path):
            _whiteout(root, path)


def test_a_layered_target_is_seen_as_a_run_that_installed_its_dependencies_itself(tmp_path, image):
    init = tmp_path / "init"
    init.mkdir()
    # a run that installed everything itself: one writable layer over the image
    plain = tmp_path / "plain"
    plain.mkdir()
    _apply(plain, DEPS_WRITE, DEPS_REMOVE, lambda p: (image / p.lstrip("/")).exists())
    _apply(plain, PRODUCT_WRITE, PRODUCT_REMOVE, lambda p: (image / p.lstrip("/")).exists())
    # a run from a prepared layer: the dependencies in the layer, the product's doing above it
    layer, upper = tmp_path / "layer", tmp_path / "upper"
    layer.mkdir()
    upper.mkdir()
    _apply(layer, DEPS_WRITE, DEPS_REMOVE, lambda p: (image / p.lstrip("/")).exists())
    _apply(upper, PRODUCT_WRITE, PRODUCT_REMOVE,
           lambda p: (image / p.lstrip("/")).exists() or (layer / p.lstrip("/")).exists())
    (upper / "usr/share/dep").mkdir(parents=True, exist_ok=True)  # copied up when its file was removed

    want = _seen(OverlayObserver(_Container(plain, [init, image])))
    got = _seen(OverlayObserver(_Container(upper, [init, layer, image]), str(layer)))
    assert got == want
    assert want["/usr/bin/sudo"][:4] == ("file", 0o104755, 6, False)  # the trojan, not the image's
    assert "/usr/share/dep/b" not in got and got["/usr/share/old"][0] == "deleted"
    assert got["/etc/environment"][5] != got["/etc/environment"][6]  # edited: not the image's content


def test_the_writable_layers_opaque_folder_and_files_hide_the_layers(tmp_path, image):
    layer, upper, init = tmp_path / "layer", tmp_path / "upper", tmp_path / "init"
    for d in (layer, upper, init):
        d.mkdir()
    _file(layer, "/opt/dep/kept", b"1")
    _file(layer, "/opt/dep/gone", b"2")
    _file(layer, "/srv/tree/leaf", b"3")
    _opaque(upper, "/opt/dep")  # the product removed the folder and made it again
    _file(upper, "/opt/dep/new", b"4")
    _file(upper, "/srv/tree", b"a file where the layer has a folder")
    got = OverlayObserver(_Container(upper, [init, layer, image]), str(layer)).state().entries
    assert "/opt/dep/new" in got and "/opt/dep/kept" not in got and "/opt/dep/gone" not in got
    assert got["/srv/tree"].kind == "file" and "/srv/tree/leaf" not in got


def test_the_quota_counts_the_layers_bytes_as_the_run_writing_them_would(tmp_path, image):
    """Before the product, with its copies and whiteouts, and after a purge of the dependencies:
    the same bytes as a run that wrote the layer's files itself."""
    init, layer, upper, plain = (tmp_path / n for n in ("init", "layer", "upper", "plain"))
    for d in (init, layer, upper, plain):
        d.mkdir()
    deps = {"/usr/lib/big": b"x" * 65536, "/usr/share/dep/a": b"a" * 9000, "/usr/share/dep/b": b"b" * 5000,
            "/opt/dep/c": b"c" * 7000, "/srv/tree/leaf": b"d" * 3000}
    _apply(layer, deps, [], lambda p: False)
    _apply(plain, deps, [], lambda p: False)

    def same() -> int:
        want = OverlayObserver(_Container(plain, [init, image])).written_bytes()
        assert OverlayObserver(_Container(upper, [init, layer, image]), str(layer)).written_bytes() == want
        return want

    assert same() >= 65536 + 9000
    # the product: rewrites a dependency's file, removes another, replaces a folder by a file and
    # one by an opaque folder, writes its own
    for root in (upper, plain):
        _file(root, "/usr/share/dep/a", b"A" * 20000)
        _file(root, "/usr/bin/acme", b"p" * 4000)
    (plain / "usr/share/dep/b").unlink()
    _whiteout(upper, "/usr/share/dep/b")
    shutil.rmtree(plain / "srv/tree")
    _file(plain, "/srv/tree", b"f")
    _file(upper, "/srv/tree", b"f")
    shutil.rmtree(plain / "opt/dep")
    (plain / "opt/dep").mkdir()
    _file(plain, "/opt/dep/new", b"n" * 100)
    _opaque(upper, "/opt/dep")
    _file(upper, "/opt/dep/new", b"n" * 100)
    same()
    # the purge takes the dependencies
    (plain / "usr/lib/big").unlink()
    _whiteout(upper, "/usr/lib/big")
    assert same() < 65536


def test_a_layer_that_is_not_under_the_container_is_refused(tmp_path, image):
    from lab.errors import InfrastructureError

    upper, init, other = tmp_path / "upper", tmp_path / "init", tmp_path / "other"
    for d in (upper, init, other):
        d.mkdir()
    with pytest.raises(InfrastructureError, match="not under this container"):
        OverlayObserver(_Container(upper, [init, image]), str(other))


def test_links_in_the_layer_are_never_followed_on_the_host(tmp_path, image):
    """A layer's links name the target's paths: a review replaced perl's version link (and an
    absolute one) and the quota subtracted the folders they pointed at, on the host."""
    init, layer, upper, plain = (tmp_path / n for n in ("init", "layer", "upper", "plain"))
    for d in (init, layer, upper, plain):
        d.mkdir()
    for root in (layer, plain):
        _file(root, "/usr/share/perl/5.36.0/big.pm", b"p" * 50000)
        os.symlink("5.36.0", root / "usr/share/perl/5.36")
        (root / "opt").mkdir()
        os.symlink("/usr", root / "opt/big")  # on the host: the host's own /usr
    for root in (upper, plain):
        (root / "usr/share/perl").mkdir(parents=True, exist_ok=True)
        (root / "opt").mkdir(exist_ok=True)
        if root is plain:
            os.unlink(root / "usr/share/perl/5.36")
            os.unlink(root / "opt/big")
        os.symlink("5.36.0", root / "usr/share/perl/5.36")
        os.symlink("/usr/lib", root / "opt/big")
        _file(root, "/var/tmp/fill", b"f" * 40000)
    want = OverlayObserver(_Container(plain, [init, image])).written_bytes()
    got = OverlayObserver(_Container(upper, [init, layer, image]), str(layer)).written_bytes()
    assert got == want >= 90000


def test_a_layer_file_copied_up_unchanged_keeps_its_change_time(tmp_path, image):
    """Opening a lower file for writing copies it up, a new inode, though nothing was written (a
    review's ``: >> /usr/bin/sudo``): not a rewrite. A real one is."""
    init, layer, upper = tmp_path / "init", tmp_path / "layer", tmp_path / "upper"
    for d in (init, layer, upper):
        d.mkdir()
    for name in ("same", "other"):
        _file(layer, f"/usr/bin/{name}", b"sudo" * 100, 0o4755)
        _file(upper, f"/usr/bin/{name}", b"sudo" * 100 if name == "same" else b"evil" * 100, 0o4755)
        st = os.lstat(layer / f"usr/bin/{name}")
        os.utime(upper / f"usr/bin/{name}", ns=(st.st_atime_ns, st.st_mtime_ns))
    got = OverlayObserver(_Container(upper, [init, layer, image]), str(layer)).state().entries
    assert got["/usr/bin/same"].changed_ns == os.lstat(layer / "usr/bin/same").st_ctime_ns
    assert got["/usr/bin/other"].changed_ns == os.lstat(upper / "usr/bin/other").st_ctime_ns


def test_a_copy_given_a_capability_or_a_hard_link_is_a_change(tmp_path, image):
    """Metadata alone copies a layer file up too: a capability (a review's cap_setuid on
    sudoreplay) or a second name for it are changes, as their change time says in a plain run."""
    init, layer, upper = tmp_path / "init", tmp_path / "layer", tmp_path / "upper"
    for d in (init, layer, upper):
        d.mkdir()
    for name in ("capable", "linked"):
        _file(layer, f"/usr/bin/{name}", b"tool" * 100, 0o755)
        _file(upper, f"/usr/bin/{name}", b"tool" * 100, 0o755)
        st = os.lstat(layer / f"usr/bin/{name}")
        os.utime(upper / f"usr/bin/{name}", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.setxattr(upper / "usr/bin/capable", "security.capability",
                bytes.fromhex("0100000201000000000000000000000000000000"))
    os.link(upper / "usr/bin/linked", upper / "usr/bin/.again")
    got = OverlayObserver(_Container(upper, [init, layer, image]), str(layer)).state().entries
    for name in ("capable", "linked"):
        assert got[f"/usr/bin/{name}"].changed_ns == os.lstat(upper / f"usr/bin/{name}").st_ctime_ns, name
