"""Load a TOML file into one strict pydantic model, reporting every problem with its path.

Both the lab engineer's inventory and the vendor's submission go through here, so a typo gets
the same answer everywhere: ``targets[0].imagee: unknown key``, all problems at once.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from lab.errors import InputError

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "field required",
}


def dotted(loc: tuple, data: object = None) -> str:
    """``("targets", 0, "imagee")`` -> ``targets[0].imagee``, or ``targets[debian12-x86_64].imagee``
    when the list's item has a name (an engineer finds a target by its name, not its position)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            item = data[part] if isinstance(data, list) and part < len(data) else None
            name = item.get("name") if isinstance(item, dict) else None
            out += f"[{name}]" if isinstance(name, str) and name and len(name) < 80 else f"[{part}]"
            data = item
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            data = data.get(part) if isinstance(data, dict) else None
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def problems_of(error: ValidationError, data: object = None) -> list[str]:
    problems = []
    for e in error.errors():
        msg = _MESSAGES.get(e["type"], e["msg"])
        msg = msg.removeprefix("Value error, ")
        problems.append(f"{dotted(e['loc'], data)}: {msg}")
    return problems


def read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(str(path), ["file not found"]) from None
    except IsADirectoryError:
        raise InputError(str(path), ["is a folder, not a TOML file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), [f"not valid TOML: {exc}"]) from None


def parse_model(model: type[M], data: dict, source: str, context: dict | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise InputError(source, problems_of(exc, data)) from None

