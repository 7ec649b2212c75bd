"""Message extraction: what a translator must translate, found in the sources (Babel's extract API).

Three kinds of source (``babel.cfg`` at the top of the project says which file is which):
- templates (``_("...")``, ``{% trans %}``), by Jinja's own extractor;
- Python modules (``_``/``gettext``/``N_(...)``), by Babel's;
- the check registry (``lab/suite/registry.py``) by ``registry`` below: every suite and check title
  and every GB/T 25000.51 characteristic a buyer reads, without marking each entry by hand (a new
  check's title is found, and the test of the catalogues fails until it is translated).

``pybabel extract -F babel.cfg -o lab/locale/messages.pot .`` uses the same mapping.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "babel.cfg"


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value
    return None


def registry(fileobj, keywords, comment_tags, options) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extractor for the registry: the titles of ``Suite(...)`` (5th argument or ``title=``)
    and ``CheckSpec(...)`` (2nd or ``title=``), and the module's characteristic constants (the
    upper-case names bound to text, e.g. ``INSTALLABILITY = "portability: installability"``)."""
    tree = ast.parse(fileobj.read().decode("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
            text = _text(node.value)
            if text is not None:
                yield node.lineno, None, text, ["GB/T 25000.51 quality characteristic"]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        where = {"Suite": 4, "CheckSpec": 1}.get(node.func.id)
        if where is None:
            continue
        title = node.args[where] if len(node.args) > where else None
        title = next((k.value for k in node.keywords if k.arg == "title"), title)
        text = _text(title)
        if text is not None:
            kind = "suite" if node.func.id == "Suite" else "check"
            ident = _text(node.args[0]) if node.args else None
            yield node.lineno, None, text, [f"title of the {kind} {ident}"]


def extract_catalogue(root: Path = ROOT) -> Catalog:
    """Every message of the project, as ``pybabel extract -F babel.cfg`` finds it."""
    with MAPPING.open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp, str(MAPPING))
    root = Path(root).resolve()
    catalogue = Catalog(project="adaptation-lab", charset="utf-8")
    def only_lab(path: str) -> bool:  # not .venv, node_modules, reports/...
        parts = Path(path).relative_to(root).parts
        return parts[0] == "lab" and "__pycache__" not in parts

    for filename, lineno, message, comments, context in extract_from_dir(
            str(root), method_map, options_map, strip_comment_tags=True, directory_filter=only_lab):
        catalogue.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalogue
