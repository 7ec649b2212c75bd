"""The target's own programs and libraries the lab reads it through, watched from outside.

Some readings go through the target's tools: ``ss`` for the service's ports, the shell, ``awk``
and ``sed`` on /proc for the stability samples. A product running as root could replace them after
its install was judged (a review's service swapped /usr/bin/ss and /usr/bin/sed for filters when it
started, and its memory leak and an undeclared port passed). On a container the lab sees the
writable layer from the host: a program, a shared library or the loader's configuration changed
since the install's state makes those readings the product's word, and the check that relies on
them fails naming what changed. The product's own packaged files are its own to change.

Example::

    tampered(installed_state, observer.state())   # ["/usr/bin/ss"]
"""

from __future__ import annotations

import posixpath

from lab.observe.state import FsState

BIN_FOLDERS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin")
# their shared objects, and their multiarch folder's; /usr/local/lib comes first in the loader's
# path (a review's library there filtered ss's output from inside ss)
LIB_FOLDERS = ("/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/local/lib", "/usr/local/lib64")
LOADER = ("/etc/ld.so.preload", "/etc/ld.so.conf")


def is_instrument(path: str) -> bool:
    folder, _, name = path.rpartition("/")
    if folder in BIN_FOLDERS:
        return True
    if (folder in LIB_FOLDERS or posixpath.dirname(folder) in LIB_FOLDERS) and ".so" in name:
        return True
    return path in LOADER or folder == "/etc/ld.so.conf.d"


def tampered(since: FsState, now: FsState) -> list[str]:
    """Programs, libraries and loader settings created, changed, rewritten or removed between the
    two states (read from outside: the inode's change time tells a same-size rewrite)."""
    out = []
    for path, entry in now.entries.items():
        if not is_instrument(path):
            continue
        was = since.entries.get(path)
        if was is None or was != entry or entry.rewritten_since(was):
            out.append(path)
    return sorted(out)
