"""The run's Allure results with every hidden character written out before Allure renders them.

Allure's pages show a check's message, trace, name, parameters and text attachments as the
results say them; a vendor's test message or a program's output holding a right-to-left override
would draw ``dessap`` as ``passed`` there, and an escape sequence or a zero-width space would hide
or reorder what an engineer reads. ``lab.text.visible`` writes each such character out
(``\\u202e``), as the PDF, the certificates and the pages do. One pass over the results folder,
whoever wrote the results (a worker, allure-pytest, the vendor-test runner), so no writer of a
string can forget it; what is already plain is left untouched (not rewritten).
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from pathlib import Path

from lab.text import visible

JSON_MAX_BYTES = 64 << 20  # a results file larger than this is not the lab's (left as it is)
TEXT_ATTACHMENTS = (".txt", ".log", ".csv", ".json")  # JSON ones read as JSON: "\\u202e" there is the character
CHUNK = 1 << 20


def _visible_json(value):
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, list):
        return [_visible_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _visible_json(v) for k, v in value.items()}
    return value


def _replace(path: Path, write) -> None:
    """``write(fh)`` into a file beside ``path``, then put it in its place (all or nothing)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_file(path: Path) -> bool:
    if path.stat().st_size > JSON_MAX_BYTES:
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    shown = _visible_json(data)
    if shown == data:
        return False
    _replace(path, lambda fh: json.dump(shown, fh, ensure_ascii=False))
    return True


def _text_file(path: Path) -> bool:
    """A text attachment of any size (the target's whole command log may hold megabytes of a
    vendor's output), read and written in pieces; bytes that are not UTF-8 become U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            text = decoder.decode(chunk)
            if visible(text) != text:
                break
        else:
            return False

    def write(out) -> None:
        again = codecs.getincrementaldecoder("utf-8")("replace")
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                out.write(visible(again.decode(chunk)))
            out.write(visible(again.decode(b"", final=True)))
    _replace(path, write)
    return True


def make_visible(results: Path) -> int:
    """Rewrite the results and text attachments of ``results`` that hold a hidden character; how
    many files were changed. Symbolic links, other files, and a file another process replaced
    meanwhile are left alone."""
    changed = 0
    for path in sorted(Path(results).iterdir()):
        name = path.name
        is_result = name.endswith(("-result.json", "-container.json"))
        is_attachment = "-attachment" in name and name.endswith(TEXT_ATTACHMENTS)
        try:
            if path.is_symlink() or not path.is_file() or not (is_result or is_attachment):
                continue
            changed += _json_file(path) if name.endswith(".json") else _text_file(path)
        except FileNotFoundError:  # replaced or removed by another renderer of the same run
            continue
    return changed
