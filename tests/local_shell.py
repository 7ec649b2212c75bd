"""A local ``sh`` behind the lab's shell framing, for the tests/test_shell*.py modules (and any test
that needs the protocol without a container)."""

from __future__ import annotations

from lab.transport.channel import PipeChannel

CAP = 4096  # the output cap of the tests that set one


class LocalChannel(PipeChannel):
    """``sh`` on this machine; a second one kills a timed-out command, as on a target."""

    def __init__(self, cwd=None):
        # With every signal's default disposition, as a target's shell starts: a test session started
        # in the background (under nohup, or `cmd &`) hands on SIGINT and SIGHUP ignored, and a shell
        # cannot undo what was ignored when it started.
        super().__init__(["env", "--default-signal", "sh"], cwd=cwd)
