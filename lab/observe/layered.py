"""A container started from a prepared layer (``lab.cache.layers``), seen from the host as if the run
had installed the layer's files itself, which is what a run without the layer does.

The layer lies right under the container's writable layer. What the run judges must not depend
on where a file sits, so:

- its files are entries like the writable layer's own (``merge``): what the writable layer has at a
  path wins; its whiteouts, files and opaque folders hide the layer's below them; a whiteout of
  what only the layer had is no entry at all (without the layer the run simply removed the file);
- a file only copied up from it, unchanged (overlayfs copies a file up when it is merely opened
  for writing), keeps the layer's change time (``untouched_copy``): a review's ``: >> sudo`` was
  called a rewrite; another content, mode, owner, time, link count or extended attribute (a file
  capability) is a change;
- its bytes count towards the disk quota less what the writable layer hides (``written_bytes``).

Nothing here follows a link (``lab.observe.hostfs``).
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable

from lab.errors import InfrastructureError
from lab.observe.hostfs import bytes_under, file_bytes, is_opaque, kind, listing, lstat_or_none, sha256_in_root, xattrs
from lab.observe.state import Entry

# (root, entries, skip) -> bytes written: ``OverlayObserver._walk``
Walk = Callable[[str, dict[str, Entry], Callable[[str, str], str | None]], int]


class PreparedLayer:
    """The layer's folder under a container's writable layer (``upper``)."""

    def __init__(self, folder: str, upper: str, lowers: list[str]):
        self.folder = os.path.normpath(folder)
        self.upper = upper
        if self.folder not in map(os.path.normpath, lowers) or not os.path.isdir(self.folder):
            raise InfrastructureError(f"the prepared layer {folder} is not under this container")
        self.bytes = bytes_under(self.folder)

    def below(self, lowers: list[str]) -> list[str]:
        """The container's lower layers but this one: the image, as a run without it has it."""
        return [d for d in lowers if os.path.normpath(d) != self.folder]

    def _in(self, root: str, path: str) -> str:
        return os.path.join(root, path.lstrip("/"))

    def merge(self, entries: dict[str, Entry], walk: Walk) -> int:
        """The layer's entries added to the writable layer's (``entries``); the bytes added."""
        upper = dict(entries)

        def skip(path: str, kind_: str) -> str | None:
            mine = upper.get(path)
            if mine is None:
                return None
            if mine.kind != "dir" or kind_ != "dir" or is_opaque(self._in(self.upper, path)):
                return "all"
            return "entry"  # the writable layer's folder stands; what is under it merges

        written = walk(self.folder, entries, skip)
        for path, entry in upper.items():
            if entry.kind == "deleted" and not entry.existed:
                del entries[path]
            elif entry.kind == "file" and (ctime := self.untouched_copy(path)):
                entries[path] = dataclasses.replace(entry, changed_ns=ctime)
        return written

    def untouched_copy(self, path: str) -> int:
        """The layer's change time of ``path`` when the writable layer holds a copy of it that
        nothing changed, else 0."""
        mine, theirs = lstat_or_none(self._in(self.upper, path)), lstat_or_none(self._in(self.folder, path))
        if mine is None or theirs is None or not (stat.S_ISREG(mine.st_mode) and stat.S_ISREG(theirs.st_mode)):
            return 0
        same = ("st_mode", "st_uid", "st_gid", "st_size", "st_mtime_ns", "st_nlink")  # a hard link made counts
        if any(getattr(mine, f) != getattr(theirs, f) for f in same) or \
                xattrs(self._in(self.upper, path)) != xattrs(self._in(self.folder, path)):
            return 0
        if sha256_in_root(self.upper, path) != sha256_in_root(self.folder, path):
            return 0
        return theirs.st_ctime_ns

    def written_bytes(self) -> int:
        """The writable layer's bytes and the layer's, less what of the layer the writable one
        hides (a whiteout, a copy counted once, a file or opaque folder over its folder)."""
        total = hidden = 0
        # (folder of the writable layer, the layer's folder at the same path or None: it shows nothing)
        stack: list[tuple[str, str | None]] = [(self.upper, self.folder)]
        while stack:
            here, below = stack.pop()
            for d, st in listing(here):
                under = os.path.join(below, d.name) if below is not None else None
                theirs = lstat_or_none(under) if under is not None else None
                if stat.S_ISDIR(st.st_mode):
                    if theirs is not None and stat.S_ISDIR(theirs.st_mode) and not is_opaque(d.path):
                        stack.append((d.path, under))  # both folders show: merged below
                        continue
                    stack.append((d.path, None))
                elif kind(st) != "deleted":
                    total += st.st_blocks * 512
                if theirs is not None:
                    hidden += bytes_under(under) if stat.S_ISDIR(theirs.st_mode) else file_bytes(under)
        return total + self.bytes - hidden
