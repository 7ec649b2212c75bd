"""Reading ``targets.toml`` and choosing targets from it by name."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path

from lab.arch import ARCHES
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

    def select(self, names: list[str] | None, given_as: str = "--targets") -> list[Target]:
        """Named targets (disabled ones too, when named), or every enabled one. A name the inventory
        lacks is the user's mistake in ``given_as`` (the option or argument), not the inventory's."""
        if not names:
            return self.model.enabled
        known = {t.name: t for t in self.model.targets}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(given_as, [self.unknown(n) for n in unknown])
        return [known[n] for n in names]

    def unknown(self, name: str) -> str:
        """``no target named 'debian12-amd64' in targets.toml; did you mean debian12-x86_64?``"""
        names = [t.name for t in self.model.targets]
        spelled = [name.replace(a.deb, a.uname) for a in ARCHES.values() if a.deb in name and a.deb != a.uname]
        near = [n for n in spelled if n in names] or difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        if not near:  # same OS and release, another spelling of the architecture
            near = [n for n in names if n.split("-")[0] == name.split("-")[0]][:3]
        hint = f"; did you mean {' or '.join(near)}?" if near else f" (known: {', '.join(names)})"
        return f"no target named {name!r} in {self.path.name}{hint}"


_loaded: list[Path] = []  # the inventory this process works with, for the commands it suggests


def suggest(command: str) -> str:
    """A command to suggest in a message, keeping the user's ``--inventory`` when it is not the
    default: ``lab images build debian12-x86_64 --inventory /srv/lab/targets.toml``."""
    if _loaded and _loaded[-1] != Path("targets.toml").resolve():
        return f"{command} --inventory {_loaded[-1]}"
    return command


def load_inventory(path: Path | str = "targets.toml") -> LoadedInventory:
    path = Path(path)
    if not path.exists():
        if path != Path("targets.toml"):  # given with --inventory: that file
            raise InputError(str(path), ["file not found"])
        # the default, most often missing because the command runs outside the lab's folder
        raise InputError(str(path), [f"file not found in {Path.cwd()} (run from the lab's folder, or give "
                                     "the inventory with --inventory FILE)"])
    data = read_toml(path)
    model = parse_model(Inventory, data, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _loaded.append(path.resolve())
    return LoadedInventory(model=model, path=path.resolve(), sha256=digest)
