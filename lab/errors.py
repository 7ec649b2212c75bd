"""Whose fault it is, as types.

A red cell on the matrix must say at once whether the vendor or the lab has work to do, so every
error the harness raises belongs to exactly one of these families (after LAVA's taxonomy):

- ``InputError``: bad submission, inventory or arguments. Nothing ran; the CLI exits 2.
- ``InfrastructureError``: the lab failed (dead container, lost SSH link, missing image). The
  check is *broken*, never *failed*.
- ``ProductFailure``: the vendor's package misbehaved; the check is *failed*. Suites usually say
  this with ``assert``; this type is for library code that detects it.
- ``NotApplicable``: the check does not apply to this target; it is *skipped* with the reason.
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the harness raises on purpose."""


class InputError(LabError):
    """Bad input; ``problems`` lists every ``path: message`` found, so all are reported at once."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} error(s)"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class InfrastructureError(LabError):
    """The lab's fault: the target, its transport or an image is not usable."""


class ConnectionLost(InfrastructureError):
    """The transport to a target went away in the middle of a command."""


class CommandTimeout(LabError):
    """A command on a target ran past its limit and was killed.

    Not infrastructure by itself: a vendor's installer that hangs is the vendor's fault. The
    caller decides, knowing whose command it was.
    """

    def __init__(self, command: str, seconds: float):
        self.command = command
        self.seconds = seconds
        super().__init__(f"timed out after {seconds:g} s: {command}")


class ProductFailure(LabError, AssertionError):
    """The vendor's product failed a check, with a message the vendor can act on.

    An ``AssertionError`` too, so pytest and Allure file it as *failed*, like a suite's ``assert``.
    """


class NotApplicable(LabError):
    """The check does not apply on this target; the message says why."""
