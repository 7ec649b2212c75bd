"""The dependency cache as the installers use it: what one batch of a product needs from the target's
repositories, served from the controller's cache when it was downloaded before for the same target
image, mirror and package lists, else downloaded as always and kept for the next run.

A warm run starts no downloader at all: the files apt fetched last time (each checked against the
sha256 apt verified when it downloaded it) are copied into the target's package cache, as the
downloader's files would be, and the install goes on offline. The target never sees the cache's
folder: files are copied in, nothing is mounted, and nothing flows back from a target.

What may differ between two runs is only how the files got there; the resolution is apt's, on the
same image with the same lists and the same product files, so the verdicts are the same. Whatever
goes wrong with the cache (disk full, a damaged file, a lock that cannot be taken) is said in the
run's log and the run downloads as it would without a cache: never a failed or broken verdict.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from lab.cache.store import FILE_NAME, CacheError, Damaged, Entry, PackageCache
from lab.hashing import sha256_file, sha256_parts

LISTS_FRESH_S = 24 * 3600  # as the deb installer's refresh rule: lists younger than a day are used
MAX_FILE_SHARE = 4  # a file bigger than a quarter of the cache is not kept
MAX_PATHS = 200_000  # a package's file list longer than this is read from the package each time


def entry_key(fmt: str, image: str, mirror: str, arch: str) -> str:
    """One cache entry per package format, target image, mirror and architecture."""
    return sha256_parts("lab-cache-1", fmt, image, mirror, arch)[:32]


def image_identity(p) -> str | None:
    """The image the target's packages are resolved in: the container's image (the one a prepared
    layer was built from, ``lab.cache.layers``), or the image of a simulated board's container.
    None for a real board (it downloads for itself: no cache)."""
    if p.handle is not None:
        if p.layer is not None:
            return p.layer.base
        return (getattr(p.handle, "attrs", None) or {}).get("Image") or None
    spec = getattr(p.target, "ssh", None)
    if spec is not None and spec.simulated_from and p.twin is not None:
        from lab.engine import client
        from lab.provision.simulated import container_name

        try:
            return client().containers.get(container_name(p.target)).attrs.get("Image") or None
        except Exception:  # the board's container is gone: no cache, the download says the rest
            return None
    return None


def mirror_of(p) -> str:
    return mirror_for(p.lab)


def mirror_for(lab) -> str:
    if lab is not None and lab.mirror:
        return lab.mirror
    from lab.errors import InfrastructureError
    from lab.images.host import apt_mirror

    try:
        return apt_mirror()
    except (InfrastructureError, OSError):
        return ""


def archive_of(folder: str, files: dict[str, bytes]) -> bytes:
    """A tar whose top entry is ``folder``'s own name, as ``Transport.get_tar`` gives it."""
    top = PurePosixPath(folder).name
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(top)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
        tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(files[name]), 0o644, now
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def files_in(archive: bytes, suffix: str) -> dict[str, bytes]:
    """The package files directly in the archive's top folder (not ``partial/``)."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) == 2 and parts[1].endswith(suffix) and FILE_NAME.fullmatch(parts[1]):
                found[parts[1]] = tar.extractfile(member).read()
    return found


class BatchCache:
    """The cache for one batch of one format on one provisioned target."""

    def __init__(self, p, cache: PackageCache, entry: Entry, batch, folder: str, suffix: str, recipe: str,
                 say: Callable[[str], None]):
        self.p, self.cache, self.entry, self.batch = p, cache, entry, batch
        self.folder, self.suffix, self.recipe, self.say = folder, suffix, recipe, say
        self.products = sorted(sha256_file(s.local) for s in batch)
        self.lists_id: str | None = None     # what the target resolves against
        self.lists_to_copy: bytes | None = None  # cached lists the target (and downloader) must get
        # What is installed on the target now (a digest of its package database): an upgrade's
        # second install needs fewer files than a first install of the same product.
        self.installed = ""
        self.hits = 0

    @classmethod
    def open(cls, p, batch, fmt: str, folder: str, suffix: str, recipe: str) -> BatchCache | None:
        """None when no cache applies (turned off, a real board): the run downloads as always."""
        say = getattr(p, "say", None) or (lambda _text: None)
        lab = p.lab
        if lab is None:
            return None
        cache = PackageCache.configured(lab.cache.folder, lab.cache.max_bytes)
        if cache is None:
            return None
        image = image_identity(p)
        if image is None:
            return None
        mirror = mirror_of(p)
        try:
            entry = cache.entry(entry_key(fmt, image, mirror, p.facts.arch))
            return cls(p, cache, entry, batch, folder, suffix, recipe, say)
        except (CacheError, OSError) as exc:
            say(f"dependency cache not used ({exc}): downloading")
            return None

    def _memo_key(self) -> str:
        return sha256_parts("memo", self.recipe, self.lists_id or "", self.installed, *self.products)[:32]

    # -- lists ---------------------------------------------------------------------------------
    def use_lists(self, image_lists_fresh: bool, day: bool = False) -> None:
        """Decide what the target resolves against: its image's lists while fresh, else the cache's
        while fresh (copied in), else none known (the downloader refreshes them). ``day``: a format
        whose package manager refreshes its own metadata; its resolutions are trusted for a day."""
        if day:
            self.lists_id = "day-" + time.strftime("%Y-%m-%d", time.gmtime())
            return
        if image_lists_fresh:
            self.lists_id = "image"
            return
        try:
            with self.cache.shared():
                meta = self.entry.lists_meta()
                if meta and time.time() - float(meta.get("fetched", 0)) < LISTS_FRESH_S:
                    got = self.entry.lists()
                    if got is not None:
                        self.lists_to_copy, meta = got
                        self.lists_id = meta["sha256"]
        except Damaged as exc:
            self.say(f"dependency cache: {exc}; the lists are fetched again")
        except (CacheError, OSError, ValueError) as exc:
            self.say(f"dependency cache not readable ({exc}): downloading without it")

    def copy_lists(self, transport, lists_folder: str) -> None:
        if self.lists_to_copy is not None:
            transport.put_tar(Path(lists_folder).parent.as_posix(), self.lists_to_copy)

    # -- a warm run ----------------------------------------------------------------------------
    def restore(self, lists_folder: str) -> bytes | None:
        """Put the files this batch needed last time onto the target; the archive as the downloader
        would have handed it over, or None (a miss: download)."""
        if self.lists_id is None:
            return None
        try:
            with self.cache.shared():
                memo = self.entry.memo(self._memo_key())
                if memo is None:
                    return None
                files = {}
                for name in memo["files"]:
                    data = self.entry.get(name)
                    if data is None:  # evicted meanwhile: a miss
                        return None
                    files[name] = data
        except Damaged as exc:
            self.say(f"dependency cache: {exc}; downloading instead")
            return None
        except (CacheError, OSError) as exc:
            self.say(f"dependency cache not readable ({exc}): downloading without it")
            return None
        archive = archive_of(self.folder, files)
        self.copy_lists(self.p.transport, lists_folder)
        if not (self.p.layer_pending and self.p.layer.memo == self._memo_key()):
            self.p.transport.put_tar(Path(self.folder).parent.as_posix(), archive)
        # else: a prepared layer made by this memo holds these very files where they go already
        self.hits = len(files)
        self.say(f"dependency cache: {len(files)} package(s), {sum(map(len, files.values())) / 1e6:.1f} MB from "
                 f"{self.entry.path} (nothing downloaded)")
        return archive

    # -- the packages' file lists (lab.observe.owners.PathMemo) --------------------------------
    def paths(self, name: str, sha256: str) -> tuple[str, list[str]] | None:
        try:
            with self.cache.shared():
                return self.entry.paths(name, sha256)
        except (CacheError, OSError):
            return None

    def put_paths(self, name: str, sha256: str, package: str, paths: list[str]) -> None:
        try:
            with self.cache.shared():
                if self.entry.has(name) and len(paths) <= MAX_PATHS:  # only beside a package the cache keeps
                    self.entry.put_paths(name, sha256, package, paths)
        except (CacheError, OSError) as exc:
            self.say(f"dependency cache: the file list of {name} not kept ({exc})")

    # -- after a download ----------------------------------------------------------------------
    def store(self, archive: bytes, lists: bytes | None = None, seconds: float = 0.0) -> None:
        """Keep what the downloader fetched (apt verified each file against the signed lists) and
        which files this batch needed; ``lists``: freshly refreshed lists; ``seconds``: what the
        download took, said so a warm run's saving can be read against it. Never raises."""
        try:
            files = files_in(archive, self.suffix)
            with self.cache.shared():
                self.entry.describe(format=self.suffix, image=str(image_identity(self.p)), mirror=mirror_of(self.p))
                if lists is not None and len(lists) <= self.cache.max_bytes // MAX_FILE_SHARE:
                    self.lists_id = self.entry.put_lists(lists)["sha256"]
                for name, data in files.items():
                    if len(data) <= self.cache.max_bytes // MAX_FILE_SHARE:
                        self.entry.put(name, data)
                if self.lists_id is not None and all(self.entry.has(n) for n in files):
                    self.entry.put_memo(self._memo_key(), sorted(files), stored=time.time())
                    self.say(f"dependency cache: {len(files)} package(s), {sum(map(len, files.values())) / 1e6:.1f} MB "
                             f"downloaded in {seconds:.1f} s, kept in {self.entry.path} for the next run")
        except (CacheError, OSError, tarfile.TarError, ValueError) as exc:
            self.say(f"dependency cache not written ({exc}): this run downloaded without it, the next will too")
            return
        try:
            if self.cache.usage().bytes > self.cache.max_bytes:
                self.cache.evict()
        except (CacheError, OSError) as exc:
            self.say(f"dependency cache not trimmed ({exc})")
