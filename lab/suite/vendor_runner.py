"""Runs INSIDE the lab's sandboxed runner container, never on the lab's host: the vendor's own
pytest/testinfra tests, with ``host`` bound to the target through the controller.

It speaks the lab's line protocol on the original stdout (one JSON object per line), checked by the
controller (``lab/suite/vendor_protocol.py``)::

    {"collected": [nodeid, ...]}                                   once, after collection
    {"start": nodeid}                                              before each test
    {"run": cmd}                                                   each host.run; the answer comes
                                                                   on stdin: {"rc", "out", "err"}
    {"result": {"nodeid": ..., "outcome": ..., "message": ...}}    after each test
    {"done": {"exit": code}}                                       last: pytest's exit status

No durations: the controller times each test itself. The vendor's code runs in this very process,
so nothing here is a secret from it; the controller trusts none of these lines beyond what it can
check. Standard library, pytest and testinfra only (Debian's, in the runner image).
"""

import base64
import json
import os
import sys

_to_lab = os.fdopen(os.dup(1), "wb", buffering=0)
_from_lab = os.fdopen(os.dup(0), "rb", buffering=0)
_log = os.open("/work/pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
os.dup2(_log, 1)
os.dup2(_log, 2)

import pytest  # noqa: E402
import testinfra.host  # noqa: E402
from testinfra.backend.base import BaseBackend  # noqa: E402

MAX_MESSAGE = 4000


def send(message):
    _to_lab.write(json.dumps(message).encode() + b"\n")


def ask(message):
    send(message)
    line = _from_lab.readline()
    if not line:
        raise SystemExit("the lab closed the channel")
    return json.loads(line)


class LabProxyBackend(BaseBackend):
    NAME = "lab-proxy"

    def run(self, command, *args, **kwargs):
        cmd = self.get_command(command, *args)
        r = ask({"run": cmd})
        return self.result(r["rc"], self.encode(cmd), base64.b64decode(r["out"]), base64.b64decode(r["err"]))

    def get_encoding(self):
        return "utf-8"


def _text(report):
    if report.outcome == "skipped":
        if hasattr(report, "wasxfail"):
            return f"xfail: {report.wasxfail}" if report.wasxfail else "xfail"
        if isinstance(report.longrepr, tuple):
            return report.longrepr[2].removeprefix("Skipped: ")
        return ""
    if report.longrepr is None:
        return ""
    crash = getattr(report.longrepr, "reprcrash", None)
    head = f"{crash.message}\n\n" if crash is not None else ""
    if report.when != "call":
        head = f"error in {report.when}: {head}"
    return head + str(report.longrepr)[-3000:]


class LabPlugin:
    """One ``result`` per test, the worst of its phases: failed before skipped before passed."""

    def __init__(self):
        self.outcome, self.message = "passed", ""
        self.current = None  # the node id of the test between its start and its result

    @pytest.fixture(scope="session")
    def host(self):
        backend = LabProxyBackend("target")
        h = testinfra.host.Host(backend)
        backend.set_host(h)
        return h

    def pytest_collection_finish(self, session):
        send({"collected": [item.nodeid for item in getattr(session, "items", [])]})

    def pytest_runtest_logstart(self, nodeid, location):
        self.outcome, self.message = "passed", ""
        self.current = nodeid
        send({"start": nodeid})

    def pytest_runtest_logreport(self, report):
        rank = {"passed": 0, "skipped": 1, "failed": 2}
        if rank[report.outcome] > rank[self.outcome]:
            self.outcome, self.message = report.outcome, _text(report)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.current = None
        send({"result": {"nodeid": nodeid, "outcome": self.outcome, "message": self.message[:MAX_MESSAGE]}})


plugin = LabPlugin()
code = pytest.main([*sys.argv[1:], "-p", "no:cacheprovider", "-p", "no:testinfra", "-p", "no:pytest11.testinfra",
                    "-q"], plugins=[plugin])
if plugin.current is not None:  # pytest.exit() or a KeyboardInterrupt inside a test: no logfinish came
    send({"result": {"nodeid": plugin.current, "outcome": "failed",
                     "message": f"the test run was interrupted during this test (pytest exit status {int(code)})"}})
send({"done": {"exit": int(code)}})
