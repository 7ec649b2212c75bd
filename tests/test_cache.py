"""The dependency cache's own logic (lab/cache): keys, checksums, least-recently-used eviction and
locks, on a temporary folder. The runs with real targets are in tests/integration/test_cache.py."""

from __future__ import annotations

import fcntl
import io
import multiprocessing
import os
import tarfile
from pathlib import Path

import pytest

from lab.cache.deps import archive_of, files_in
from lab.cache.store import CacheError, Damaged, PackageCache
from lab.hashing import sha256_bytes, sha256_parts

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cache(tmp_path) -> PackageCache:
    return PackageCache(tmp_path / "cache", 1 << 20)


def test_a_file_comes_back_only_as_it_was_kept(cache):
    entry = cache.entry(KEY)
    entry.put("perl_5.36.0-7+deb12u4_amd64.deb", b"perl bytes")
    assert entry.get("perl_5.36.0-7+deb12u4_amd64.deb") == b"perl bytes"
    assert entry.get("absent_1.0_amd64.deb") is None


def test_a_damaged_file_is_detected_removed_and_then_a_miss(cache):
    entry = cache.entry(KEY)
    entry.put("libevent_2.1_amd64.deb", b"good bytes")
    path = entry.path / "files" / "libevent_2.1_amd64.deb"
    path.write_bytes(b"bad bytes!")  # a disk error, a truncated copy
    with pytest.raises(Damaged, match=r"libevent_2\.1_amd64\.deb"):
        entry.get("libevent_2.1_amd64.deb")
    assert not path.exists()
    assert entry.get("libevent_2.1_amd64.deb") is None
    entry.put("libevent_2.1_amd64.deb", b"good bytes")  # refetched and kept again
    assert entry.get("libevent_2.1_amd64.deb") == b"good bytes"


def test_a_file_that_does_not_match_what_the_downloader_verified_is_refused(cache):
    with pytest.raises(Damaged):
        cache.entry(KEY).put("a_1_all.deb", b"x", sha256=sha256_bytes(b"y"))
    assert not cache.entry(KEY).has("a_1_all.deb")


@pytest.mark.parametrize("name", ["../escape.deb", ".hidden.deb", "a/b.deb", "notes.txt", "x.deb\n", ""])
def test_names_that_are_not_package_files_are_refused(cache, name):
    with pytest.raises(CacheError):
        cache.entry(KEY).put(name, b"x")


def test_keys_are_checked_and_differ_with_image_and_mirror(cache):
    with pytest.raises(CacheError):
        cache.entry("../../etc")
    a = sha256_parts("lab-cache-1", "deb", "sha256:image-a", "http://deb.debian.org/debian", "x86_64")
    b = sha256_parts("lab-cache-1", "deb", "sha256:image-b", "http://deb.debian.org/debian", "x86_64")
    c = sha256_parts("lab-cache-1", "deb", "sha256:image-a", "http://mirror.example/debian", "x86_64")
    assert len({a, b, c}) == 3


def test_lists_and_memos_round_trip_and_damaged_lists_are_dropped(cache):
    entry = cache.entry(KEY)
    meta = entry.put_lists(b"lists tar", fetched=1000.0)
    assert entry.lists() == (b"lists tar", meta)
    entry.put_memo(KEY, ["a_1_all.deb"], stored=1.0)
    assert entry.memo(KEY)["files"] == ["a_1_all.deb"]
    (entry.path / "memos" / f"{KEY}.json").write_text('{"files": ["../x.deb"]}')
    assert entry.memo(KEY) is None  # a memo naming anything but package files is ignored
    (entry.path / "lists.tar").write_bytes(b"other")
    with pytest.raises(Damaged):
        entry.lists()
    assert entry.lists() is None


def test_eviction_removes_the_least_recently_used_first(cache):
    entry = cache.entry(KEY)
    for i, name in enumerate(["old_1_all.deb", "mid_1_all.deb", "new_1_all.deb"]):
        entry.put(name, bytes(400_000))
        os.utime(entry.path / "files" / name, (1000 + i, 1000 + i))
    entry.get("old_1_all.deb")  # used now: the most recent
    removed, freed = cache.evict(900_000)
    assert (removed, freed) == (1, 400_000)
    assert not entry.has("mid_1_all.deb")
    assert entry.has("old_1_all.deb") and entry.has("new_1_all.deb")
    assert not (entry.path / "files" / "mid_1_all.deb.sha256").exists()
    entry.put_paths("new_1_all.deb", sha256_bytes(bytes(400_000)), "new", ["/usr/bin/new"])
    cache.evict(0)
    assert not entry.path.exists()  # an entry with nothing left goes entirely
    assert cache.usage().entries == 0


def test_eviction_waits_for_readers(cache):
    cache.entry(KEY).put("a_1_all.deb", b"x")
    with cache.shared():
        fd = os.open(cache.root / ".lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # what evict() takes, not to be had while a reader is on
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # other readers go on
        finally:
            os.close(fd)


def _writer(root: str, seed: int) -> None:
    cache = PackageCache(Path(root), 1 << 30)
    for i in range(30):
        with cache.shared():
            cache.entry(KEY).put(f"pkg{i % 5}_1_all.deb", bytes([i % 5]) * 50_000)
            cache.entry(KEY).put_memo(KEY, [f"pkg{i % 5}_1_all.deb"], by=seed)


def test_concurrent_writers_leave_whole_files_only(cache):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(cache.root), n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs)
    entry = cache.entry(KEY)
    for i in range(5):
        assert entry.get(f"pkg{i}_1_all.deb") == bytes([i]) * 50_000
    assert not list(cache.root.rglob(".*.tmp-*"))
    assert entry.memo(KEY) is not None


def test_configured_folder_env_first_and_off(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "env"))
    assert PackageCache.configured(str(tmp_path / "inv"), 10).root == tmp_path / "env"
    monkeypatch.delenv("LAB_CACHE")
    assert PackageCache.configured(str(tmp_path / "inv"), 10).root == tmp_path / "inv"
    assert PackageCache.configured("off", 10) is None
    monkeypatch.setenv("LAB_CACHE", "off")
    assert PackageCache.configured(str(tmp_path / "inv"), 10) is None


def test_the_archive_handed_to_the_target_has_the_downloaders_shape():
    archive = archive_of("/var/cache/apt/archives", {"b_1_all.deb": b"b", "a_1_all.deb": b"a"})
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == ["archives", "archives/a_1_all.deb", "archives/b_1_all.deb"]
    assert files_in(archive, ".deb") == {"a_1_all.deb": b"a", "b_1_all.deb": b"b"}


def test_only_package_files_at_the_top_of_the_downloaders_archive_are_kept():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("archives/lock", "archives/partial/x_1_all.deb", "archives/ok_1_all.deb", "archives/..deb"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"z"))
    assert set(files_in(buf.getvalue(), ".deb")) == {"ok_1_all.deb"}


def test_a_packages_file_list_is_kept_for_those_bytes_only(cache, tmp_path):
    """The owners' index reads each dependency once: a second archive with the same package is
    answered from the cache, and a package with other bytes under the same name is read afresh."""
    from examples.make import build_deb
    from lab.observe.owners import archive_packages

    entry = cache.entry(KEY)

    def archive(files: dict[str, bytes]) -> tuple[bytes, bytes]:
        deb = build_deb(files, {"Package": "perl-ish", "Version": "1", "Architecture": "all"}, tmp_path)
        data = deb.read_bytes()
        return archive_of("/var/cache/apt/archives", {"perl-ish_1_all.deb": data}), data

    first, data = archive({"/usr/bin/cpan": b"#!/usr/bin/perl\n"})
    assert archive_packages(first, entry)["/usr/bin/cpan"] == "perl-ish"
    assert entry.paths("perl-ish_1_all.deb", sha256_bytes(data))[0] == "perl-ish"
    # what is remembered is what the next run gets, without reading the package again
    entry.put_paths("perl-ish_1_all.deb", sha256_bytes(data), "perl-ish", ["/usr/bin/remembered"])
    assert "/usr/bin/remembered" in archive_packages(first, entry)
    other, _ = archive({"/usr/bin/perldoc": b"#!/usr/bin/perl\n"})  # same name, other bytes
    found = archive_packages(other, entry)
    assert "/usr/bin/perldoc" in found and "/usr/bin/remembered" not in found
    (entry.path / "files" / "perl-ish_1_all.deb.paths").write_text("{not json")
    assert entry.paths("perl-ish_1_all.deb", sha256_bytes(data)) is None  # damaged: read afresh
