"""Runs INSIDE the lab's sandboxed runner container, never on the lab's host: the vendor's own
pytest/testinfra tests, with ``host`` bound to the target through the controller.

Each ``host.run`` becomes one JSON line on the original stdout ({"run": cmd}); the controller runs
it on the target and answers on stdin ({"rc", "out", "err"} in base64). The last line is
{"done": [per-test results]}. Standard library, pytest and testinfra only.
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


def ask(message):
    _to_lab.write(json.dumps(message).encode() + b"\n")
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


class LabPlugin:
    def __init__(self):
        self.results = []

    @pytest.fixture(scope="session")
    def host(self):
        backend = LabProxyBackend("target")
        h = testinfra.host.Host(backend)
        backend.set_host(h)
        return h

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            text = ""
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                text = report.longrepr[2]
            elif report.longrepr is not None:
                crash = getattr(report.longrepr, "reprcrash", None)
                head = f"{crash.message}\n\n" if crash is not None else ""
                text = head + str(report.longrepr)[-3000:]
            self.results.append({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                                 "message": text, "duration_s": round(report.duration, 3)})


plugin = LabPlugin()
code = pytest.main([*sys.argv[1:], "-p", "no:cacheprovider", "-p", "no:testinfra", "-p", "no:pytest11.testinfra",
                    "-q"], plugins=[plugin])
_to_lab.write(json.dumps({"done": plugin.results, "exit": int(code)}).encode() + b"\n")
