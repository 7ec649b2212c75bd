"""Prepared layers: a target's image with one product's OS dependencies already installed, kept as
a local Docker image so the next certification of that product starts from it.

Why: on this class of machine the dependencies' own ``apt-get install`` (unpacking Perl and the
like into a container's overlay) takes 3 to 4.5 s of every run, more than all the downloads the
dependency cache saves. A prepared layer holds exactly what that command left, so a later run
skips it and starts at the product's own install.

What keeps it honest:
- it is built in a container of its own, from the target's image, with no network and no file of
  the vendor's: only the OS packages the dependency cache kept (each checked against the sha256
  apt verified on download), installed by the very command the target ran, byte for byte;
- it is built while a run's stability watch waits (the machine is idle then), never on the way of
  a check, and only after the target's own install of the same files succeeded;
- a run uses it only when everything its dependency resolution depends on is unchanged: the same
  image (its id is in the cache entry's key), the same artifacts (their sha256 name the layer), the
  same package lists, still fresh for a while (``MARGIN``); at install the lab resolves as always
  and compares: the same command must come out, else the layer is dropped and the run is broken
  (the lab's doing, never the vendor's); ``Provisioned.layer`` then tells the observer to see the
  layer's files as written by this run, as they would have been (``lab.observe.overlay``);
- what a run relies on (the command, the image's package list, the package database's digests)
  is in the image's own labels, written once at the commit; the cache's entry only records which
  image (removed with the entry); ``lab gc`` removes the images without a record, or whose cache
  folder is gone, and their total is held to the cache's size;
- the observer never follows a link of the layer on the host, and a file merely copied up from it
  (opened for writing, nothing written) keeps the layer's change time.

Example::

    layer = find(lab, target, digests)          # at provisioning: the image to start from, or None
    ...
    build_in_background(...)                    # a run without one, while its watch waits
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.cache.deps import LISTS_FRESH_S, entry_key, mirror_for
from lab.cache.store import CacheError, PackageCache, write_atomic
from lab.hashing import sha256_parts

REPOSITORY = "lab-deps"
LABEL = "lab.layer"          # on a prepared image: its key
LABEL_CACHE = "lab.layer-cache"  # the cache folder holding its record
LABEL_RECORD = "lab.layer-record"  # what it holds and how it was made (``Layer.label``)
MARGIN = 600.0  # lists within 10 minutes of going stale are not trusted to stay as they are until the install
BUILD_WAIT_S = 120.0  # a run's end waits this long at most for a layer still being built


@dataclass
class Layer:
    key: str
    image: str            # its image id (tagged lab-deps:<a digest of the cache's folder and key>)
    base: str             # the image id it was built from
    command: str          # the dependencies' install, exactly as the target ran it
    memo: str             # the dependency cache's memo of that resolution
    status_base: str      # md5 of dpkg's status in the image, before
    status_after: str     # and in the layer
    packages_before: str  # dpkg-query's list in the image (what the SBOM subtracts)
    lists_id: str         # "image" or the sha256 of the cache's lists the resolution used
    image_lists_until: float  # when the image's own lists stop being fresh
    built: float
    size: int = 0         # bytes the layer adds
    upper: str = ""       # its folder on the lab's disk (overlay2), filled in when used

    def label(self) -> str:
        """What the run that uses it relies on, kept in the image's own labels (Docker's store,
        written once at the commit): the cache's record only points at the image."""
        return json.dumps({k: v for k, v in asdict(self).items() if k not in ("image", "size", "upper")})

    @classmethod
    def of(cls, image, size: int = 0) -> Layer:
        fields = json.loads((image.labels or {})[LABEL_RECORD])
        return cls(**fields, image=image.id, size=size,
                   upper=((image.attrs.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir", ""))


def applies(target) -> bool:
    """Plain container targets of the lab's own CPU only: on a database stack or a desktop the lab
    starts its own server or session in the target, which a builder does not, and an OS package's
    scripts might see it; under emulation a build outlasts the watch, and the run would wait."""
    from lab.images.host import host_arch

    return (target.backend == "docker" and target.database is None and "desktop" not in target.all_tags
            and target.facts.arch == host_arch())


def layer_key(target: str, digests: dict[str, str]) -> str:
    """A submission's artifacts by their sha256 (as the controller computed them) on one target
    (its name is the container's host name, which maintainer scripts may write down)."""
    return sha256_parts("layer-1", target, *sorted(digests.values()))[:32]


def _cache(lab) -> PackageCache | None:
    return PackageCache.configured(lab.cache.folder, lab.cache.max_bytes) if lab is not None else None


def _records(entry_path: Path) -> Path:
    return entry_path / "layers"


def _usable(layer: Layer, lists_meta: dict | None, now: float) -> bool:
    """Whether the resolution that made it would come out the same now, and for a while yet."""
    if layer.lists_id == "image":
        return now < layer.image_lists_until - MARGIN
    if now < layer.image_lists_until + MARGIN:  # near the image's own lists' boundary
        return False
    return bool(lists_meta) and lists_meta.get("sha256") == layer.lists_id and \
        now < float(lists_meta.get("fetched", 0)) + LISTS_FRESH_S - MARGIN


def find(lab, target, digests: dict[str, str], say=lambda _t: None) -> Layer | None:
    """The prepared layer this submission can start from on ``target`` (a docker target with the
    cache on), or None; never raises: without a layer the run installs as always."""
    if not applies(target) or not digests:
        return None
    cache = _cache(lab)
    if cache is None:
        return None
    try:
        from lab.engine import client

        docker = client()
        base = docker.images.get(target.docker.image).id
        entry = cache.entry(entry_key("deb", base, mirror_for(lab), target.facts.arch))
        key = layer_key(target.name, digests)
        path = _records(entry.path) / f"{key}.json"
        if not path.exists():
            return None
        with cache.shared():
            record = json.loads(path.read_text())
            layer = Layer.of(docker.images.get(str(record["image"])), int(record.get("size", 0)))
            if layer.key != key or layer.base != base or not _usable(layer, entry.lists_meta(), time.time()):
                return None
            memo = entry.memo(layer.memo)  # its files still kept: the run restores them, nothing downloaded
            if memo is None or not all(entry.has(name) for name in memo["files"]):
                return None
            os.utime(path)  # its last use, for eviction
        return layer
    except Exception as exc:  # an absent image, a damaged record: install as always
        from docker.errors import ImageNotFound

        if not isinstance(exc, ImageNotFound | FileNotFoundError):
            say(f"prepared layer not used ({exc.__class__.__name__}: {str(exc)[:200]}): installing as always")
        return None


def drop(lab, layer: Layer) -> None:
    """Forget a layer that did not match (its record and image)."""
    cache = _cache(lab)
    if cache is None:
        return
    with contextlib.suppress(Exception):
        for path in cache.root.glob(f"*/layers/{layer.key}.json"):
            path.unlink()
    _remove_image(layer.image)


def _remove_image(image: str) -> bool:
    """Whether it is gone (a running container's image stays until the container goes)."""
    from docker.errors import APIError, NotFound

    from lab.engine import client

    try:
        client().images.remove(image, force=True, noprune=False)
    except NotFound:
        return True
    except APIError:
        return False
    return True


@dataclass
class Plan:
    """What a run's own install did, to be repeated in a builder: filled in by the deb installer."""
    command: str
    archive: bytes
    memo: str
    lists_id: str
    status_base: str
    entry: Path
    folder: str  # where the archive's folder goes on the target (/var/cache/apt)


class Builder:
    """One layer being built in a thread of the worker; ``wait()`` at the run's end."""

    def __init__(self, lab, target, run_id: str, digests: dict[str, str], plan: Plan, say):
        self.lab, self.target, self.run_id, self.plan, self.say = lab, target, run_id, plan, say
        self.key = layer_key(target.name, digests)
        self._container = None
        self._thread = threading.Thread(target=self._run, name="layer-builder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            layer = self._build()
            self.say(f"prepared layer {layer.image[7:19]}: the {self.target.name} image with these OS dependencies "
                     f"installed ({layer.size / 1e6:.1f} MB, built in {time.monotonic() - started:.1f} s while "
                     f"the watch waited), for the next run of the same files")
        except Exception as exc:  # a layer is a saving, never a verdict
            self.say(f"prepared layer not built ({exc.__class__.__name__}: {str(exc)[:300]})")
        finally:
            self._discard()

    def _build(self) -> Layer:
        from lab.engine import client
        from lab.observe.hostfs import bytes_under
        from lab.observe.packages import DPKG
        from lab.provision.container import start_container
        from lab.transport.docker import DockerTransport

        base = client().images.get(self.target.docker.image).id
        self._container = start_container(self.target, self.run_id, self.lab, role="layer")
        if self._container.attrs.get("Image") != base:
            raise CacheError("the image changed while the layer was being built")
        t = DockerTransport(f"{self.target.name} (layer)", self._container.id)
        try:
            probe = t.run("find /var/lib/apt/lists -maxdepth 1 -name '*Release' -printf '%T@\\n'; "
                          "echo; md5sum </var/lib/dpkg/status").stdout.split()
            status_base = next((w for w in probe if len(w) == 32), "")
            if status_base != self.plan.status_base:
                raise CacheError("the image's package database is not the one the run resolved against")
            stamps = [float(w) for w in probe if len(w) != 32 and w.replace(".", "", 1).isdigit()]
            before = t.run(DPKG).stdout
            t.put_tar(self.plan.folder, self.plan.archive)
            result = t.run(self.plan.command, timeout=self.lab.limits.install_timeout)
            if not result.ok:
                raise CacheError(f"the dependencies' install failed here (exit {result.exit_status})")
            after = t.run("md5sum </var/lib/dpkg/status").stdout.split()[0]
        finally:
            t.close()
        cache = _cache(self.lab)
        # tagged apart per cache folder: two caches (a bench's, a test's) never retag each other's
        root = _root(cache)
        made = Layer(self.key, "", base, self.plan.command, self.plan.memo, status_base, after, before,
                     self.plan.lists_id, (max(stamps) if stamps else 0.0) + LISTS_FRESH_S, time.time())
        image = self._container.commit(repository=REPOSITORY, tag=sha256_parts(root, self.key)[:32], pause=True,
                                       conf={"Labels": {LABEL: self.key, LABEL_CACHE: root,
                                                        LABEL_RECORD: made.label()}})
        layer = Layer.of(image)
        layer.size = bytes_under(layer.upper)
        with cache.shared():
            if not self.plan.entry.is_dir():  # evicted meanwhile: no record, the image goes with gc
                raise CacheError("the cache entry was evicted meanwhile")
            write_atomic(_records(self.plan.entry) / f"{self.key}.json",
                         json.dumps({"image": layer.image, "size": layer.size}).encode())
        trim(cache)
        return layer

    def _discard(self) -> None:
        if self._container is not None:
            from lab.provision.container import remove_container

            with contextlib.suppress(Exception):
                remove_container(self._container)
            self._container = None

    def wait(self, timeout: float = BUILD_WAIT_S) -> None:
        """At the run's end: the layer is done, or its builder is removed (nothing recorded)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._discard()
            self._thread.join(30)


def recorded(cache: PackageCache) -> list[tuple[Path, str, int]]:
    """Every layer record of the cache: (its file, the image id, the layer's bytes); unreadable
    ones are skipped (their image then has no record)."""
    found = []
    if not cache.root.is_dir():
        return found
    for path in cache.root.glob("*/layers/*.json"):
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            record = json.loads(path.read_text())
            found.append((path, str(record["image"]), int(record.get("size", 0))))
    return found


def trim(cache: PackageCache, max_bytes: int | None = None) -> tuple[int, int]:
    """Layers past the cache's size go, least recently used first: (layers removed, bytes freed)."""
    limit = cache.max_bytes if max_bytes is None else max_bytes
    layers = sorted(recorded(cache), key=lambda r: r[0].stat().st_mtime if r[0].exists() else 0)
    total = sum(size for _, _, size in layers)
    removed = freed = 0
    for path, image, size in layers:
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            path.unlink()
        _remove_image(image)
        total -= size
        removed, freed = removed + 1, freed + size
    return removed, freed


def _root(cache: PackageCache) -> str:
    return str(cache.root.expanduser().resolve())


def orphans(cache: PackageCache) -> int:
    """``lab gc``: remove the prepared images this cache has no record of (their record evicted
    with its entry, a build cut short, a cache emptied), and those of a cache folder that is gone
    (a benchmark's, a test session's); another cache folder's are left alone."""
    from lab.engine import client

    root = _root(cache)
    images = client().images.list(filters={"label": LABEL})
    present = {image.id for image in images}
    kept = set()
    for path, image_id, _ in recorded(cache):
        if image_id in present:
            kept.add(image_id)
        else:  # its image went (removed by hand, by another cache's gc...): the record goes too
            with contextlib.suppress(OSError):
                path.unlink()
    removed = 0
    for image in images:
        home = (image.labels or {}).get(LABEL_CACHE, "")
        if ((home == root and image.id not in kept) or not home or not os.path.isdir(home)) and \
                _remove_image(image.id):
            removed += 1
    return removed
