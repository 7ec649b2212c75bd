"""``lab gc``: remove what dead runs left behind, found by label, and keep the dependency cache
within its bound (or empty it)."""

from __future__ import annotations

from pathlib import Path

import typer

from lab.cli.console import out
from lab.cli.options import Inventory


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def gc(
    run: str = typer.Option(None, "--run", help="only this run id (removed even if still running)"),
    everything: bool = typer.Option(False, "--all", help="every lab container, live runs included"),
    clear_cache: bool = typer.Option(False, "--clear-cache", help="empty the dependency cache (its layers too)"),
    cache_max: str = typer.Option(None, "--cache-max", help="evict the cache and its prepared layers down to "
                                                           "this size (512m, 2g) instead of \\[lab.cache] max_size"),
    inventory: Path = Inventory,
) -> None:
    """Remove containers of lab runs whose controller process is gone; trim the dependency cache and its
    prepared layers (images with a product's OS dependencies installed)."""
    from lab.provision.gc import collect

    cache, limit = _configured(inventory, cache_max)  # bad input is refused before anything is removed
    removed = collect(run, everything=everything)
    out.print(f"removed {len(removed)} container(s)" + (f": {', '.join(removed)}" if removed else ""))
    _cache(cache, limit, clear_cache)


def _configured(inventory: Path, cache_max: str | None):
    from lab.cache.store import PackageCache
    from lab.errors import InputError
    from lab.inventory import load_inventory
    from lab.inventory.model import size_bytes, size_text

    if not inventory.exists() and inventory != Path("targets.toml"):  # named, not the default: it must be there
        raise InputError(str(inventory), ["file not found"])
    settings = load_inventory(inventory).model.lab.cache if inventory.exists() else None
    limit = settings.max_bytes if settings else 4 << 30
    if cache_max is not None:
        try:
            limit = size_bytes(size_text(cache_max))
        except ValueError as exc:
            raise InputError("--cache-max", [str(exc)]) from None
    return PackageCache.configured(settings.folder if settings else None, limit), limit


def _cache(cache, limit: int, clear: bool) -> None:
    from lab.cache.store import CacheError

    if cache is None:
        out.print("dependency cache: off")
        return
    try:
        if clear:
            freed = cache.clear() if cache.root.is_dir() else 0
            out.print(f"dependency cache {cache.root}: emptied ({_mb(freed)} freed)", highlight=False)
            _layers(cache, limit)
            return
        files, freed = cache.evict(limit) if cache.root.is_dir() else (0, 0)
        use = cache.usage()
    except (CacheError, OSError) as exc:
        out.print(f"dependency cache {cache.root}: not usable ({exc})", highlight=False)
        return
    out.print(f"dependency cache {cache.root}: {_mb(use.bytes)} in {use.entries} entr"
              f"{'y' if use.entries == 1 else 'ies'} ({use.files} package files), max {_mb(limit)}; "
              f"evicted {files} file(s), {_mb(freed)}", highlight=False)
    _layers(cache, limit)


def _layers(cache, limit: int) -> None:
    """The prepared layers (images with a product's OS dependencies in): held to the same size."""
    from lab.cache import layers

    trimmed, freed = layers.trim(cache, limit)
    gone = layers.orphans(cache)
    kept = layers.recorded(cache)
    out.print(f"prepared layers: {len(kept)}, {_mb(sum(size for _, _, size in kept))}; removed "
              f"{trimmed + gone} ({_mb(freed)} over the size, {gone} without a record)", highlight=False)
