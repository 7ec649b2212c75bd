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

import json
import os
import tempfile
from pathlib import Path

from lab.text import visible

MAX_FILE_BYTES = 8 << 20  # a results file larger than this is left as it is (Allure cuts it anyway)
TEXT_ATTACHMENTS = (".txt", ".log", ".csv", ".json")  # JSON ones read as JSON: "\u202e" there is the character


def _visible_json(value):
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, list):
        return [_visible_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _visible_json(v) for k, v in value.items()}
    return value


def _rewrite(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_visible(results: Path) -> int:
    """Rewrite the results and text attachments of ``results`` that hold a hidden character; how
    many files were changed. Symbolic links, other files and unreadable ones are left alone."""
    changed = 0
    for path in sorted(Path(results).iterdir()):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            continue
        name = path.name
        is_json = name.endswith(("-result.json", "-container.json"))
        if not is_json:
            if not ("-attachment" in name and name.endswith(TEXT_ATTACHMENTS)):
                continue
            is_json = name.endswith(".json")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if is_json:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            shown = _visible_json(data)
            if shown == data:
                continue
            _rewrite(path, json.dumps(shown, ensure_ascii=False))
        else:
            shown_text = visible(text)
            if shown_text == text:
                continue
            _rewrite(path, shown_text)
        changed += 1
    return changed
