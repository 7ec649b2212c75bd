"""Reading ``waivers.toml`` beside the inventory, once, and saying what in it matches nothing.

A missing file is no waivers. A malformed one is refused whole (``InputError``: the file, then
``waivers[2].expires: ...``): half a waivers file would accept some findings and not others.
An entry naming a check the registry does not know, or a target the inventory does not have, is
kept but reported (``warnings``): it cannot do harm, and an engineer wants to hear of the typo.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from lab.inventory.load import LoadedInventory
from lab.suite import registry
from lab.validation import parse_model, read_toml
from lab.waivers.model import WaiverEntry, WaiversFile

FILE = "waivers.toml"


@dataclass(frozen=True)
class LoadedWaivers:
    path: Path | None
    entries: list[WaiverEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def waivers_path(inv: LoadedInventory) -> Path:
    return inv.root / FILE


def known_check(check_id: str) -> bool:
    """In the registry, or one of the vendor's own tests (``vendor.<name>``)."""
    return check_id in registry.CHECKS or (check_id.startswith("vendor.") and len(check_id) > len("vendor."))


def load_waivers(inv: LoadedInventory, path: Path | None = None, today: date | None = None) -> LoadedWaivers:
    path = Path(path) if path is not None else waivers_path(inv)
    if not path.exists():
        return LoadedWaivers(None)
    model = parse_model(WaiversFile, read_toml(path), str(path))
    today = today or datetime.now(UTC).date()
    targets = {t.name for t in inv.model.targets}
    warnings = []
    for i, w in enumerate(model.waivers):
        where = f"{path}: waivers[{i}]"
        if not known_check(w.check):
            near = difflib.get_close_matches(w.check, list(registry.CHECKS), n=1, cutoff=0.75)
            warnings.append(f"{where}.check: no check {w.check!r} in the lab's suites: it matches nothing"
                            + (f" (did you mean {near[0]!r}?)" if near else ""))
        for j, t in enumerate(w.targets or []):
            if t not in targets:
                warnings.append(f"{where}.targets[{j}]: no target {t!r} in {inv.path.name}: it matches nothing")
        if w.expired(today):
            warnings.append(f"{where}: expired on {w.expires.isoformat()}: it no longer applies")
    return LoadedWaivers(path, list(model.waivers), warnings)
