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


def dotted(loc: tuple) -> str:
    """``("targets", 0, "imagee")`` -> ``targets[0].imagee``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def problems_of(error: ValidationError) -> list[str]:
    problems = []
    for e in error.errors():
        msg = _MESSAGES.get(e["type"], e["msg"])
        msg = msg.removeprefix("Value error, ")
        problems.append(f"{dotted(e['loc'])}: {msg}")
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
        raise InputError(source, problems_of(exc)) from None


def load_model(model: type[M], path: Path, context: dict | None = None) -> M:
    return parse_model(model, read_toml(path), str(path), context)
