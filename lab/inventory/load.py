"""Reading ``targets.toml`` and choosing targets from it by name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lab.errors import InputError
from lab.inventory.model import Inventory, Target
from lab.validation import parse_model, read_toml


@dataclass(frozen=True)
class LoadedInventory:
    """The model plus where it came from: Dockerfile paths are relative to it, reports cite its hash."""

    model: Inventory
    path: Path
    sha256: str

    @property
    def root(self) -> Path:
        return self.path.parent

    def select(self, names: list[str] | None, *, include_disabled_by_name: bool = True) -> list[Target]:
        """Named targets (disabled ones too, when named), or every enabled one."""
        if not names:
            return self.model.enabled
        known = {t.name: t for t in self.model.targets}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(str(self.path), [f"targets: no target named {n!r}" for n in unknown])
        chosen = [known[n] for n in names]
        if not include_disabled_by_name:
            chosen = [t for t in chosen if t.enabled]
        return chosen


def load_inventory(path: Path | str = "targets.toml") -> LoadedInventory:
    path = Path(path)
    data = read_toml(path)
    model = parse_model(Inventory, data, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LoadedInventory(model=model, path=path.resolve(), sha256=digest)
