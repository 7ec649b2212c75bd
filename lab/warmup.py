"""Modules loaded in the background while a process waits on something else (a target starting,
apt installing, the workers running), so the step that needs them does not wait for them.

Python's import lock makes a later ``import`` of the same module wait for the background one to
finish, so nothing is loaded twice; an import that fails here fails again, and is said, where the
module is used."""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable


def import_in_background(*modules: str, name: str = "warm-up", then: Callable[[], object] | None = None,
                         first: Callable[[], object] | None = None) -> None:
    """``then``: more of the same kind (templates compiled, catalogues read), once the modules are in;
    ``first``: what to wait for, or do, before any of it."""
    def work() -> None:
        if first is not None:
            with contextlib.suppress(Exception):
                first()
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)
        if then is not None:
            with contextlib.suppress(Exception):
                then()

    threading.Thread(target=work, name=name, daemon=True).start()
