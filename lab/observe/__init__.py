"""What a target's filesystem and processes look like, read from outside the vendor's reach.

The security and install suites judge everything an install changed. They must not ask tools
inside the target (``find``, ``ps``, ``dpkg``), which a vendor's maintainer script can replace:
for a container, the controller reads the container's writable layer and its processes from the
host (``overlay``); only boards, which have no outside view, are read through their own tools
(``remote``), and their results say so.
"""

from lab.observe.state import Entry, FsState, Observer

__all__ = ["Entry", "FsState", "Observer"]
