"""Load a TOML file into one strict pydantic model, reporting every problem with its path.

Both the lab engineer's inventory and the vendor's submission go through here, so a typo gets
the same answer everywhere: ``targets[0].imagee: unknown key``, all problems at once.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path
from types import UnionType
from typing import TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from lab.errors import InputError
from lab.text import visible
from lab.wording import N_, Wording

M = TypeVar("M", bound=BaseModel)

UNKNOWN_KEY = Wording(N_("unknown key"))
UNKNOWN_KEY_NEAR = Wording(N_("unknown key (did you mean %(near)s?)"))
REQUIRED = Wording(N_("field required"))
# The values a TOML file gets wrong most (a number in quotes, one value where a list goes): what is
# wanted and what was given, where pydantic says only the former.
WHOLE_NUMBER = Wording(N_("must be a whole number, given %(given)s"))
NUMBER = Wording(N_("must be a number, given %(given)s"))
TEXT = Wording(N_("must be text in quotes, given %(given)s"))
BOOLEAN = Wording(N_("must be true or false, given %(given)s"))
LIST = Wording(N_("must be a list in brackets, such as [1, 2], given %(given)s"))
TABLE = Wording(N_("must be a table ([name] or { key = value }), given %(given)s"))
ONE_OF = Wording(N_("must be %(expected)s, given %(given)s"))
TOO_MANY = Wording(N_("too many entries: %(actual_length)s, at most %(max_length)s"))
TOO_FEW = Wording(N_("too few entries: %(actual_length)s, at least %(min_length)s"))
_BY_TYPE = {"int_type": WHOLE_NUMBER, "int_parsing": WHOLE_NUMBER, "int_from_float": WHOLE_NUMBER,
            "float_type": NUMBER, "float_parsing": NUMBER, "string_type": TEXT, "bool_type": BOOLEAN,
            "bool_parsing": BOOLEAN, "list_type": LIST, "dict_type": TABLE, "model_type": TABLE,
            "model_attributes_type": TABLE, "literal_error": ONE_OF, "enum": ONE_OF,
            "too_long": TOO_MANY, "too_short": TOO_FEW,
            # the bounds too: pydantic says "Input should be greater than 0" and not what was given
            "greater_than": Wording(N_("must be greater than %(gt)s, given %(given)s")),
            "greater_than_equal": Wording(N_("must be at least %(ge)s, given %(given)s")),
            "less_than": Wording(N_("must be less than %(lt)s, given %(given)s")),
            "less_than_equal": Wording(N_("must be at most %(le)s, given %(given)s")),
            "string_too_long": Wording(N_("too long: %(length)s characters, at most %(max_length)s")),
            "string_too_short": Wording(N_("too short: %(length)s characters, at least %(min_length)s")),
            "string_pattern_mismatch": Wording(N_("must match %(pattern)s, given %(given)s"))}
GIVEN_MAX = 40  # characters of a given value quoted back


def given(value: object) -> str:
    """A value as the TOML file wrote it, short, and with no control character left as it is (a
    vendor's text is quoted back to a terminal and a page)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        cut = value[:GIVEN_MAX]
        return visible(json.dumps(cut, ensure_ascii=False)) + ("..." if len(value) > GIVEN_MAX else "")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _model_at(model: type | None, loc: tuple) -> type | None:
    """The model whose keys are valid at ``loc`` (the loc's last part is the key): None when the
    path leaves the models (a dict of free keys)."""
    t = model
    for part in loc[:-1]:
        t = _unwrap(t)
        if isinstance(part, int):
            continue
        if not (isinstance(t, type) and issubclass(t, BaseModel)):
            return None
        field = t.model_fields.get(str(part)) or next(
            (f for f in t.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        t = field.annotation
    t = _unwrap(t)
    return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def _unwrap(t):
    """``X | None`` -> X, ``list[X]`` -> X, ``dict[K, X]`` -> X, until a plain type."""
    for _ in range(5):
        origin, args = get_origin(t), get_args(t)
        if origin in (Union, UnionType):
            t = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)),
                     next((a for a in args if a is not type(None)), t))
        elif origin in (list, tuple, set, frozenset) and args:
            t = args[0]
        elif origin is dict and len(args) == 2:
            t = args[1]
        else:
            return t
    return t


def _unknown(loc: tuple, model: type | None) -> str:
    found = _model_at(model, loc)
    if found is not None and loc and isinstance(loc[-1], str):
        keys = [f.alias or name for name, f in found.model_fields.items()]
        near = difflib.get_close_matches(loc[-1], keys, n=1, cutoff=0.75)
        if near:
            return UNKNOWN_KEY_NEAR.say(near=repr(near[0]))
    return UNKNOWN_KEY


def message_of(e: dict, model: type | None = None) -> str:
    """One pydantic error in the lab's words: what is wanted, what was given, a near key."""
    kind = e["type"]
    if kind == "extra_forbidden":
        return _unknown(e["loc"], model)
    if kind == "missing":
        return REQUIRED
    wording = _BY_TYPE.get(kind)
    if wording is not None:
        value = e.get("input")
        # its own placeholders: what was given, and pydantic's context (bounds, lengths, the pattern) as text
        said = {**dict.fromkeys(wording.names, ""),
                **{k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in (e.get("ctx") or {}).items()},
                "given": given(value), "length": len(value) if isinstance(value, str) else ""}
        return wording.say(**said)
    return e["msg"].removeprefix("Value error, ")


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


def problems_of(error: ValidationError, data: object = None, model: type | None = None) -> list[str]:
    """``field.path: message`` for each error; ``model`` (the one validated) finds near keys."""
    return [f"{dotted(e['loc'], data)}: {message_of(e, model)}" for e in error.errors()]


TOML_MAX_BYTES = 4 * 1024 * 1024  # a manifest, an inventory, waivers: none is near this
TOML_MAX_DEPTH = 32  # tables and arrays within each other; the lab's deepest is 4


def read_toml(path: Path) -> dict:
    """The file's TOML; ``InputError`` for what is not a TOML file of sane size and depth (a
    vendor's manifest nested thousands deep, or not UTF-8, crashed the parser with a traceback)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(TOML_MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(str(path), ["file not found"]) from None
    except IsADirectoryError:
        raise InputError(str(path), ["is a folder, not a TOML file"]) from None
    if len(raw) > TOML_MAX_BYTES:
        raise InputError(str(path), [f"larger than {TOML_MAX_BYTES // 2**20} MiB: not a file the lab reads"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(str(path), [f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise InputError(str(path), [f"nested more than {TOML_MAX_DEPTH} deep"]) from None
    if _depth(data) > TOML_MAX_DEPTH:
        raise InputError(str(path), [f"nested more than {TOML_MAX_DEPTH} deep"])
    return data


def _depth(value: object) -> int:
    """How deep tables and arrays sit within each other, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > TOML_MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_model(model: type[M], data: dict, source: str, context: dict | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise InputError(source, problems_of(exc, data, model)) from None

