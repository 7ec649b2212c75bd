"""The line protocol between the vendor-test runner and the controller, checked on the controller.

The runner (``vendor_runner.py``, inside the sandboxed runner container) writes one JSON object per
line, of exactly one of these kinds::

    {"collected": [nodeid, ...]}                                   once, after collection
    {"start": nodeid}                                              before each test
    {"run": command}                                               a ``host.run``; answered on stdin
    {"result": {"nodeid": ..., "outcome": ..., "message": ...}}    after each test
    {"done": {"exit": code}}                                       last: pytest's exit status

Every byte of it is the vendor's to forge. The vendor's conftest.py and tests run *inside* the
runner's own process, so they can write to any of its file descriptors (the dup of the original
stdout included) and print lines of their own. This module therefore trusts nothing it reads:

- a line is at most ``MAX_LINE`` bytes, read with linear buffering; a longer one is refused
  without ever holding more than the cap;
- a line is a JSON object of exactly one known kind with typed fields and no extra keys;
- outcomes are only passed, failed or skipped; node ids are printable and at most ``MAX_NODEID``
  characters; messages are redacted and cut to ``MAX_MESSAGE`` characters;
- results come only for collected tests, each after its own ``start`` and at most once;
- a test's duration is measured here, on the controller's clock, from its ``start`` line to its
  ``result`` line: the runner sends none;
- check ids are ``vendor.<node id>`` restricted to a safe charset, bounded and unique.

The real limit, stated plainly: because the vendor's code runs in the runner process, it can still
write well-formed lines *for its own tests* (e.g. report a failing test of its own as passed).
What the lab guarantees is that whatever the runner sends becomes only ``vendor.*`` checks,
bounded, of tests that were really collected, timed by the lab's clock, and that no lab check
(``install.*``, ``vendor.tests``...) can be forged. ``vendor.tests`` itself is decided by the
controller: any refused line, a runner that hangs or dies, or an exit status that contradicts the
results makes it *failed*.

Pure logic, no Docker: ``lab.suite.vendor`` feeds it the bytes and the clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lab.errors import ProductFailure
from lab.transport.base import redact

MAX_LINE = 1 << 20  # bytes in one line, newline excluded
MAX_NODEID = 500  # characters in a node id
MAX_MESSAGE = 4000  # characters of a test's message that are kept
MAX_TESTS = 5000  # collected tests in one run
MAX_CHECK_ID = 200  # characters in a check id (the catalogue's column holds 200)
PREFIX = "vendor."
RESERVED = frozenset({"vendor.tests"})  # the lab's own umbrella check
UNSAFE = re.compile(r"[^A-Za-z0-9_.:/\[\]-]")
SHOWN = 120  # characters of a vendor string quoted in a refusal


class ProtocolViolation(ProductFailure):
    """The runner sent something the lab refuses. The vendor's code runs in the runner, so this is
    the product's failure; the message says what was refused."""


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable (no control characters or line breaks)")
    return value


NodeId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NODEID), AfterValidator(_printable)]


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Collected(_Line):
    collected: list[NodeId] = Field(max_length=MAX_TESTS)


class Start(_Line):
    start: NodeId


class ResultBody(_Line):
    nodeid: NodeId
    outcome: Literal["passed", "failed", "skipped"]
    message: str


class Result(_Line):
    result: ResultBody


class Run(_Line):
    run: str = Field(min_length=1)


class Exit(_Line):
    exit: int = Field(ge=0, le=255)


class Done(_Line):
    done: Exit


KINDS: dict[str, type[_Line]] = {"collected": Collected, "start": Start, "result": Result, "run": Run, "done": Done}

# What pytest's exit statuses mean, for a vendor reading why its run failed.
EXIT_MEANING = {0: "all tests passed", 1: "tests failed",
                2: "interrupted: an error while collecting, pytest.exit() or a KeyboardInterrupt",
                3: "pytest internal error, e.g. in a hook of the vendor's conftest.py",
                4: "usage error, e.g. a conftest.py that cannot be imported or bad options",
                5: "no tests were collected"}


@dataclass
class VendorResult:
    """One vendor test as a check: ``check_id`` is safe to show and store; ``duration_s`` is the
    controller's own measure."""

    check_id: str
    nodeid: str
    outcome: str  # passed | failed | skipped
    message: str
    duration_s: float


def shown(text: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    """A vendor string quoted in a refusal: redacted, cut, with control characters escaped."""
    text = redact(text, set(secrets))
    return repr(text[:SHOWN] + ("..." if len(text) > SHOWN else ""))


def sanitize(nodeid: str) -> str:
    """``vendor.<node id>`` over the safe charset, at most ``MAX_CHECK_ID`` characters (not yet unique).

    A cut id ends with a hash of the whole node id, so long ids that share a beginning stay apart.
    """
    check = PREFIX + UNSAFE.sub("_", nodeid)
    if len(check) > MAX_CHECK_ID:
        digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        check = check[: MAX_CHECK_ID - 9] + "-" + digest
    return check


def check_ids(nodeids: list[str], secrets: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """Unique, safe check ids for the collected node ids, in collection order.

    Node ids are redacted first (a password in a parametrization never reaches a check id). Two
    ids that sanitize alike (``t[a b]``, ``t[a_b]``) get ``-2``, ``-3``... in collection order;
    ``vendor.tests`` is the lab's and never given out.
    """
    taken: set[str] = set(RESERVED)
    out: dict[str, str] = {}
    for nodeid in nodeids:
        base = sanitize(redact(nodeid, set(secrets)))
        check, n = base, 1
        while check in taken:
            n += 1
            suffix = f"-{n}"
            check = base[: MAX_CHECK_ID - len(suffix)] + suffix
        taken.add(check)
        out[nodeid] = check
    return out


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key in {keys[:5]}")
    return dict(pairs)


def parse_line(raw: bytes) -> _Line:
    """One line as its typed message; ``ProtocolViolation`` for anything else."""
    try:
        obj = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError):
        raise ProtocolViolation(f"a line that is not JSON: {shown(raw.decode('utf-8', 'replace'))}") from None
    if not isinstance(obj, dict) or len(obj) != 1:
        raise ProtocolViolation("a line that is not a JSON object of exactly one kind "
                                f"({', '.join(KINDS)}): {shown(raw.decode('utf-8', 'replace'))}")
    kind = next(iter(obj))
    model = KINDS.get(kind)
    if model is None:
        raise ProtocolViolation(f"a line of unknown kind {shown(kind)}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors(include_url=False, include_input=False)[:3])
        raise ProtocolViolation(f"a malformed {kind!r} line ({problems})") from None


class LineReader:
    """Bytes in, complete lines out, never holding more than ``limit`` bytes of an unfinished line.

    Linear: each byte is scanned and copied once (a ``bytearray`` that is extended, never
    rebuilt). A line longer than ``limit`` is refused as soon as it passes the cap, before the rest
    of it is read.
    """

    def __init__(self, limit: int = MAX_LINE):
        self.limit = limit
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held of a line not finished yet."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = []
        view = memoryview(chunk)
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            end = len(chunk) if nl < 0 else nl
            if len(self._buf) + (end - start) > self.limit:
                self._buf.clear()
                raise ProtocolViolation(f"a line longer than {self.limit} bytes")
            self._buf += view[start:end]
            if nl < 0:
                return lines
            lines.append(bytes(self._buf))
            self._buf.clear()
            start = nl + 1


class RunnerProtocol:
    """The runner's conversation as the lab accepts it, one line at a time.

    ``accept`` takes a line and the controller's clock reading when it arrived, and returns the
    command of a ``run`` line (to be answered on the runner's stdin) or ``None``. Anything out of
    order or ill-formed raises ``ProtocolViolation``; after that the conversation is over.
    """

    def __init__(self, secrets: set[str] | frozenset[str] = frozenset()):
        self.secrets = set(secrets)
        self.ids: dict[str, str] | None = None  # collected node id -> check id
        self.results: dict[str, VendorResult] = {}
        self.running: tuple[str, float] | None = None  # node id, controller time of its start
        self.started: set[str] = set()
        self.exit: int | None = None

    @property
    def done(self) -> bool:
        return self.exit is not None

    def _show(self, text: str) -> str:
        return shown(text, self.secrets)

    def accept(self, raw: bytes, now: float) -> str | None:
        if self.done:
            raise ProtocolViolation("a line after the runner said it was done")
        msg = parse_line(raw)
        if isinstance(msg, Run):
            return msg.run
        if isinstance(msg, Collected):
            self._collected(msg.collected)
        elif isinstance(msg, Start):
            self._start(msg.start, now)
        elif isinstance(msg, Result):
            self._result(msg.result, now)
        elif isinstance(msg, Done):
            self._done(msg.done.exit)
        return None

    def _collected(self, nodeids: list[str]) -> None:
        if self.ids is not None:
            raise ProtocolViolation("a second list of collected tests")
        seen: set[str] = set()
        for nodeid in nodeids:
            if nodeid in seen:
                raise ProtocolViolation(f"vendor test {self._show(nodeid)} collected twice")
            seen.add(nodeid)
        self.ids = check_ids(nodeids, self.secrets)

    def _start(self, nodeid: str, now: float) -> None:
        if self.ids is None or nodeid not in self.ids:
            raise ProtocolViolation(f"start of vendor test {self._show(nodeid)} that was never collected")
        if self.running is not None:
            raise ProtocolViolation(f"start of vendor test {self._show(nodeid)} while "
                                    f"{self._show(self.running[0])} was still running")
        if nodeid in self.started:
            raise ProtocolViolation(f"vendor test {self._show(nodeid)} started twice")
        self.started.add(nodeid)
        self.running = (nodeid, now)

    def _result(self, report: ResultBody, now: float) -> None:
        nodeid = report.nodeid
        if self.ids is None or nodeid not in self.ids:
            raise ProtocolViolation(f"result for vendor test {self._show(nodeid)} that was never collected")
        if nodeid in self.results:
            raise ProtocolViolation(f"a second result for vendor test {self._show(nodeid)}")
        if self.running is None or self.running[0] != nodeid:
            raise ProtocolViolation(f"result for vendor test {self._show(nodeid)} that was not started"
                                    + (f" ({self._show(self.running[0])} was running)" if self.running else ""))
        started = self.running[1]
        self.running = None
        message = redact(report.message, self.secrets)[:MAX_MESSAGE]
        self.results[nodeid] = VendorResult(self.ids[nodeid], nodeid, report.outcome, message,
                                            round(max(0.0, now - started), 3))

    def _done(self, code: int) -> None:
        if self.running is not None:
            raise ProtocolViolation(f"done while vendor test {self._show(self.running[0])} was still running")
        if self.ids is None and code in (0, 1, 5):  # pytest says these only after collecting
            raise ProtocolViolation(f"done with exit status {code} before the collected tests were sent")
        missing = [n for n in (self.ids or {}) if n not in self.results]
        if code == 0 and missing:
            raise ProtocolViolation(f"done with exit status 0, but {len(missing)} collected vendor test(s) never "
                                    f"reported a result, e.g. {self._show(missing[0])}")
        self.exit = code

    # -- after the conversation -------------------------------------------------------------------
    @property
    def collected(self) -> int:
        return len(self.ids or {})

    def exit_problem(self) -> str | None:
        """Why the run failed as a whole although the protocol was kept, from pytest's exit status."""
        code = self.exit
        meaning = EXIT_MEANING.get(code, "unknown")
        if code in (2, 3, 4) or code not in EXIT_MEANING:
            return f"the vendor tests could not run: pytest ended with exit status {code} ({meaning})"
        if code == 1 and not any(r.outcome == "failed" for r in self.results.values()):
            return "pytest ended with exit status 1 (tests failed), yet no vendor test reported a failure"
        if code == 5 and self.collected:
            return f"pytest ended with exit status 5 (no tests were collected), yet {self.collected} were"
        return None

    def partial(self, reason: str, now: float) -> list[VendorResult]:
        """The results so far, and the test that was running when the run failed, as *failed*."""
        out = list(self.results.values())
        if self.running is not None and self.ids is not None:
            nodeid, started = self.running
            out.append(VendorResult(self.ids[nodeid], nodeid, "failed", f"did not finish: {reason}",
                                    round(max(0.0, now - started), 3)))
        return out

    def not_run(self) -> int:
        """Collected tests that neither reported nor were running."""
        running = {self.running[0]} if self.running else set()
        return sum(1 for n in (self.ids or {}) if n not in self.results and n not in running)
