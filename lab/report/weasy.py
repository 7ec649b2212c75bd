"""WeasyPrint, imported without the compiler runs its library lookup would otherwise cost.

WeasyPrint asks cffi for each of its seven libraries under several names ('libgobject-2.0-0',
'gobject-2.0', ..., 'libgobject-2.0.so.0'). cffi hands every name that does not load as it is to
``ctypes.util.find_library``, which on Linux runs ``ldconfig -p`` and then gcc and ld for each
miss: 86 processes and over a second of both cores, at the moment a run's workers start. Here
those lookups answer "not found" at once, so WeasyPrint goes on to the name the dynamic loader
knows (``libgobject-2.0.so.0``), which cffi loads directly; only if that fails is it imported
again the ordinary way.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import sys
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def _sonames_only() -> Iterator[None]:
    """``find_library`` answers None to the importing thread while the import runs (cffi has then
    already tried the name with the dynamic loader itself); other threads' lookups go to the real one."""
    real = ctypes.util.find_library
    importing = threading.get_ident()

    def find(name: str) -> str | None:
        if threading.get_ident() == importing:
            return None
        return real(name)

    ctypes.util.find_library = find
    try:
        yield
    finally:
        ctypes.util.find_library = real


def _import():
    try:
        with _sonames_only():
            import weasyprint
    except (OSError, ImportError):  # not the usual Linux names: the ordinary, slow lookup
        for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
            del sys.modules[name]
        import weasyprint
    return weasyprint


_weasyprint = _import()  # Python's import lock: a second importer waits for this one
HTML = _weasyprint.HTML


def data_only_fetcher():
    """What WeasyPrint may fetch for a report: ``data:`` URIs only (its screenshots and QR code are
    inline). Anything else a page could name, ``file:///etc/passwd``, the signing key, a host on the
    lab's network, is refused (a warning, no content), so no string on a page reaches the machine."""
    return _weasyprint.urls.URLFetcher(allowed_protocols=("data",), allow_redirects=False, timeout=5)
