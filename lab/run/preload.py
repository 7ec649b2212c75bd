"""What every worker imports before its first test, imported once in the server the workers are
forked from (``lab.run.forking``, ``lab.run.worker_server``): pytest with its own plugins, and what
the lab's plugin, Allure's plugin and the suites import at their top (the lab's session,
providers, transports, Docker's client, the SBOM's library). Read from those files, so the list
cannot fall behind them.

The plugins and the suites themselves are left out: pytest imports them in the worker, where it
rewrites their ``assert`` statements (a module imported before cannot be rewritten, and a check's
message comes from its assertion). An import that fails here fails again in the worker, and is
said there."""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import importlib.util
from pathlib import Path

from lab.run.worker import PLUGINS
from lab.suite.registry import suite_files

NOT_HERE = ("suites.test_",)  # the suites' own modules: rewritten by pytest in the worker


def imported_by(path: str | Path) -> list[str]:
    """The modules a file imports at its top level (absolute imports), in order."""
    names: list[str] = []
    for node in ast.parse(Path(path).read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def modules() -> list[str]:
    """What to import ahead: pytest's plugins, then what the plugins and suites import."""
    import _pytest.config as config

    wanted = [f"_pytest.{name}" for name in (*config.essential_plugins, *config.default_plugins)]
    files = [Path(spec.origin) for name in PLUGINS if (spec := importlib.util.find_spec(name)) and spec.origin]
    for path in [*files, *suite_files()]:
        wanted += imported_by(path)
    return [m for m in dict.fromkeys(wanted) if m not in PLUGINS and not m.startswith(NOT_HERE)]


def load() -> None:
    """The imports, then all of it frozen out of the garbage collector's sight: a worker's
    collections (pytest ends its session with five) no longer walk the hundreds of thousands of
    objects it was forked with, and leave their pages shared with the server. (What the modules
    build on first use, SPDX's matcher and the SBOM schema's validator, is built in each worker
    while it waits on its target: built here, its 0.3 s would come before the first worker's fork.)"""
    for name in modules():
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    gc.freeze()
