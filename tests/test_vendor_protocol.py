"""The runner's line protocol as the controller checks it: pure logic, no Docker.

The vendor's code runs inside the runner, so every line here is one a hostile conftest.py could
have written."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time

import pytest

from lab.errors import ProductFailure
from lab.suite import vendor, vendor_log
from lab.suite.vendor_protocol import (
    MAX_CHECK_ID,
    MAX_LINE,
    MAX_MESSAGE,
    LineReader,
    ProtocolViolation,
    RunnerProtocol,
    check_ids,
    parse_line,
)

SAFE = re.compile(r"vendor\.[A-Za-z0-9_.:/\[\]-]+")
A, B = "tests/test_a.py::test_adds", "tests/test_a.py::test_multiplies"


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def started(*nodeids: str, secrets=frozenset()) -> RunnerProtocol:
    p = RunnerProtocol(secrets)
    p.accept(line({"collected": list(nodeids)}), 0.0)
    return p


def refused(p: RunnerProtocol, obj, now: float = 1.0) -> str:
    with pytest.raises(ProtocolViolation) as exc:
        p.accept(obj if isinstance(obj, bytes) else line(obj), now)
    return str(exc.value)


def test_a_normal_run_is_accepted_with_the_controllers_durations():
    p = RunnerProtocol()
    assert p.accept(line({"run": "uname -a"}), 0.0) == "uname -a"  # before collection too (a conftest's)
    assert p.accept(line({"collected": [A, B]}), 0.5) is None
    p.accept(line({"start": A}), 1.0)
    assert p.accept(line({"run": "acme-calc 1 1"}), 1.2) == "acme-calc 1 1"
    p.accept(line({"result": {"nodeid": A, "outcome": "passed", "message": ""}}), 3.5)
    p.accept(line({"start": B}), 4.0)
    p.accept(line({"result": {"nodeid": B, "outcome": "failed", "message": "assert 5 == 6"}}), 4.25)
    p.accept(line({"done": {"exit": 1}}), 5.0)
    assert p.done and p.exit == 1 and p.collected == 2 and p.exit_problem() is None
    a, b = p.results.values()
    assert (a.check_id, a.outcome, a.duration_s) == ("vendor.tests/test_a.py::test_adds", "passed", 2.5)
    assert (b.check_id, b.outcome, b.message, b.duration_s) == (
        "vendor.tests/test_a.py::test_multiplies", "failed", "assert 5 == 6", 0.25)


def test_a_forged_result_for_a_test_never_collected_is_refused():
    p = started(A)
    p.accept(line({"start": A}), 1.0)
    msg = refused(p, {"result": {"nodeid": "tests/forged.py::test_never_ran", "outcome": "passed", "message": ""}})
    assert msg == "result for vendor test 'tests/forged.py::test_never_ran' that was never collected"
    assert isinstance(ProtocolViolation(msg), ProductFailure)  # the product's fault: *failed*
    # Before the collected list came, nothing is collected at all.
    assert "never collected" in refused(RunnerProtocol(), {"result": {"nodeid": A, "outcome": "passed",
                                                                      "message": ""}})
    assert "never collected" in refused(RunnerProtocol(), {"start": A})


def test_a_durations_from_the_runner_are_refused_and_absent_ones_irrelevant():
    p = started(A)
    p.accept(line({"start": A}), 10.0)
    msg = refused(p, {"result": {"nodeid": A, "outcome": "passed", "message": "", "duration_s": -5}})
    assert "malformed 'result' line" in msg and "duration_s" in msg
    p.accept(line({"result": {"nodeid": A, "outcome": "passed", "message": ""}}), 12.0)
    assert p.results[A].duration_s == 2.0  # the controller's clock, from start to result


def test_markup_in_node_ids_is_sanitized_to_a_safe_check_id():
    evil = 'tests/t.py::test_x[<script>alert("x")</script> &amp; ü]'
    p = started(evil)
    p.accept(line({"start": evil}), 1.0)
    p.accept(line({"result": {"nodeid": evil, "outcome": "passed", "message": ""}}), 1.0)
    check = p.results[evil].check_id
    assert SAFE.fullmatch(check), check
    assert check == "vendor.tests/t.py::test_x[_script_alert__x___/script___amp___]"
    assert p.results[evil].nodeid == evil  # the original is kept apart, for the log


def test_an_over_long_line_is_refused_without_holding_it():
    reader = LineReader()
    chunk = b"x" * 65536
    fed = 0
    refusal = None
    for _ in range(10_000):  # 640 MiB if it were all read
        try:
            reader.feed(chunk)
        except ProtocolViolation as exc:
            refusal = str(exc)
            break
        fed += len(chunk)
        assert reader.pending <= MAX_LINE
    assert refusal == f"a line longer than {MAX_LINE} bytes"
    assert fed <= MAX_LINE  # refused at the chunk that passed the cap, not after the whole line
    assert reader.pending == 0


def test_lines_are_read_across_chunks_linearly():
    reader = LineReader(limit=10)
    assert reader.feed(b"ab") == []
    assert reader.feed(b"c\nde\n\nf") == [b"abc", b"de", b""]
    assert reader.feed(b"ghij\n") == [b"fghij"]
    assert reader.feed(b"0123456789\n") == [b"0123456789"]  # exactly the cap
    with pytest.raises(ProtocolViolation):
        reader.feed(b"0123456789A")
    # many one-byte chunks: a 1 MiB line costs linear time, not quadratic
    reader = LineReader()
    t = time.perf_counter()
    for _ in range(MAX_LINE // 1024):
        reader.feed(b"y" * 1024)
    assert reader.feed(b"\n") == [b"y" * (MAX_LINE // 1024 * 1024)]
    assert time.perf_counter() - t < 2.0


@pytest.mark.parametrize(("raw", "says"), [
    (b"not json", "not JSON"),
    (b"[1, 2]", "exactly one kind"),
    (b'"done"', "exactly one kind"),
    (b"{}", "exactly one kind"),
    (b'{"start": "a", "run": "b"}', "exactly one kind"),
    (b'{"start": "a", "start": "b"}', "not JSON"),  # a duplicate key
    (b'{"hello": 1}', "unknown kind 'hello'"),
    (b'{"result": {"nodeid": "a", "outcome": "passed", "message": "", "check": "install.package"}}',
     "result.check: Extra inputs are not permitted"),
    (b'{"result": {"nodeid": "a", "outcome": "broken", "message": ""}}', "result.outcome"),
    (b'{"result": {"nodeid": "a", "outcome": "passed"}}', "result.message: Field required"),
    (b'{"done": {"exit": 0, "verdict": "passed"}}', "done.verdict: Extra inputs"),
    (b'{"done": {"exit": true}}', "done.exit"),
    (b'{"done": {"exit": "0"}}', "done.exit"),
    (b'{"done": []}', "done"),
    (b'{"start": 7}', "start"),
    (b'{"start": ""}', "start"),
    (b'{"start": "tests/t.py::t\\n{\\"done\\": 1}"}', "printable"),
    (b'{"collected": "tests/t.py::t"}', "collected"),
    (b'{"run": ""}', "run"),
    (b"[" * 100_000, "not JSON"),
])
def test_unknown_kinds_extra_keys_and_wrong_types_are_refused(raw, says):
    with pytest.raises(ProtocolViolation) as exc:
        parse_line(raw)
    assert says in str(exc.value)
    assert len(str(exc.value)) < 400  # a refusal quotes the vendor's bytes, bounded


def test_over_long_node_ids_are_refused():
    assert "collected" in refused(RunnerProtocol(), {"collected": ["t.py::" + "x" * 600]})


def test_a_duplicate_result_is_refused():
    p = started(A, B)
    p.accept(line({"start": A}), 1.0)
    p.accept(line({"result": {"nodeid": A, "outcome": "failed", "message": "real"}}), 2.0)
    msg = refused(p, {"result": {"nodeid": A, "outcome": "passed", "message": "forged"}})
    assert msg == f"a second result for vendor test '{A}'"
    assert p.results[A].outcome == "failed"


@pytest.mark.parametrize(("steps", "says"), [
    ([{"result": {"nodeid": A, "outcome": "passed", "message": ""}}], "that was not started"),
    ([{"start": A}, {"result": {"nodeid": B, "outcome": "passed", "message": ""}}],
     f"result for vendor test '{B}' that was not started ('{A}' was running)"),
    ([{"start": A}, {"start": B}], f"start of vendor test '{B}' while '{A}' was still running"),
    ([{"start": A}, {"result": {"nodeid": A, "outcome": "passed", "message": ""}}, {"start": A}], "started twice"),
    ([{"collected": [A]}], "a second list of collected tests"),
    ([{"start": A}, {"done": {"exit": 1}}], f"done while vendor test '{A}' was still running"),
    ([{"done": {"exit": 0}}], "done with exit status 0, but 2 collected vendor test(s) never reported"),
    ([{"done": {"exit": 1}}, {"run": "id"}], "a line after the runner said it was done"),
])
def test_out_of_order_lines_are_refused(steps, says):
    p = started(A, B)
    for step in steps[:-1]:
        p.accept(line(step), 1.0)
    assert says in refused(p, steps[-1])


@pytest.mark.parametrize("code", [0, 1, 5])
def test_a_done_before_collection_is_refused_unless_pytest_could_not_start(code):
    # A conftest that writes {"done": {"exit": 0}} on import must not turn the vendor tests into "none".
    assert f"done with exit status {code} before the collected tests were sent" in refused(
        RunnerProtocol(), {"done": {"exit": code}})
    p = RunnerProtocol()
    p.accept(line({"done": {"exit": 4}}), 0.0)  # e.g. a conftest.py that cannot be imported
    assert "usage error" in p.exit_problem()


def test_a_node_id_collected_twice_is_refused():
    assert "collected twice" in refused(RunnerProtocol(), {"collected": [A, A]})


def test_ids_are_unique_for_same_named_tests_in_two_files():
    ids = check_ids(["tests/a/test_x.py::test_same", "tests/b/test_x.py::test_same",
                     "t.py::t[a b]", "t.py::t[a_b]", "t.py::t[a?b]", "tests"])
    assert list(ids.values()) == ["vendor.tests/a/test_x.py::test_same", "vendor.tests/b/test_x.py::test_same",
                                  "vendor.t.py::t[a_b]", "vendor.t.py::t[a_b]-2", "vendor.t.py::t[a_b]-3",
                                  "vendor.tests-2"]  # vendor.tests is the lab's own check


def test_check_ids_are_bounded_and_stay_unique():
    long = ["t.py::test_" + "x" * 480 + str(i) for i in range(3)] + ["t.py::test_" + "x" * 480 + "0"]
    ids = check_ids(long[:3])
    assert len(set(ids.values())) == 3
    assert all(len(c) <= MAX_CHECK_ID and SAFE.fullmatch(c) for c in ids.values())
    same = check_ids(["t.py::" + "é" * 300, "t.py::" + "è" * 300])  # alike once sanitized and cut
    assert len(set(same.values())) == 2 and all(len(c) <= MAX_CHECK_ID for c in same.values())


def test_messages_are_capped_and_secrets_redacted_in_messages_and_ids():
    nodeid = "tests/t.py::test_login[hunter2]"
    p = started(nodeid, secrets={"hunter2"})
    p.accept(line({"start": nodeid}), 0.0)
    p.accept(line({"result": {"nodeid": nodeid, "outcome": "failed", "message": "pw=hunter2 " + "x" * 9000}}), 1.0)
    r = p.results[nodeid]
    assert r.check_id == "vendor.tests/t.py::test_login[________]"
    assert r.message.startswith("pw=******** ") and len(r.message) == MAX_MESSAGE
    assert "hunter2" not in refused(p, {"start": "forged[hunter2]"})


@pytest.mark.parametrize(("code", "says"), [
    (0, None), (2, "exit status 2 (interrupted: an error while collecting"), (3, "internal error"),
    (4, "usage error"), (77, "exit status 77 (unknown)"),
])
def test_the_exit_status_decides_whether_the_run_itself_failed(code, says):
    p = started(A)
    p.accept(line({"start": A}), 0.0)
    p.accept(line({"result": {"nodeid": A, "outcome": "passed", "message": ""}}), 0.0)
    p.accept(line({"done": {"exit": code}}), 0.0)
    assert (p.exit_problem() is None) if says is None else (says in p.exit_problem())


def test_an_exit_status_contradicting_the_results_fails_the_run():
    p = started(A, B)  # a forged done: "tests failed", yet none did
    p.accept(line({"done": {"exit": 1}}), 0.0)
    assert "no vendor test reported a failure" in p.exit_problem()
    p = started(A)
    p.accept(line({"start": A}), 0.0)
    p.accept(line({"result": {"nodeid": A, "outcome": "passed", "message": ""}}), 0.0)
    p.accept(line({"done": {"exit": 5}}), 0.0)
    assert "no tests were collected), yet 1 were" in p.exit_problem()
    p = started()
    p.accept(line({"done": {"exit": 5}}), 0.0)
    assert p.exit_problem() is None and p.collected == 0


def test_the_running_test_is_failed_when_the_run_breaks():
    p = started(A, B)
    p.accept(line({"start": A}), 1.0)
    (r,) = p.partial("the vendor tests did not finish within 20 s", 21.0)
    assert (r.check_id, r.outcome, r.duration_s) == (f"vendor.{A}", "failed", 20.0)
    assert r.message == "did not finish: the vendor tests did not finish within 20 s"
    assert p.not_run() == 1


# -- the controller's side of the pipe, with fakes for the channel and the container ---------------
class FakeChannel:
    def __init__(self, data: bytes):
        self.chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
        self.sent: list[bytes] = []

    def recv(self, timeout: float) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


class FakeTransport:
    secrets: set[str] = set()  # noqa: RUF012

    def __init__(self):
        self.commands: list[str] = []

    def run(self, command, timeout):
        from lab.transport.base import CommandResult

        self.commands.append(command)
        return CommandResult(command, 0, b"2\n", b"", 0.01)


def test_the_controller_refuses_a_forged_line_in_the_stream(monkeypatch):
    stream = b"".join(line(m) + b"\n" for m in [
        {"collected": [A]}, {"start": A}, {"run": "acme-calc 1 1"},
        {"result": {"nodeid": "tests/x.py::test_forged", "outcome": "passed", "message": ""}}])
    channel, transport = FakeChannel(stream), FakeTransport()
    monkeypatch.setattr(vendor, "_send", lambda ch, data, deadline: ch.sent.append(data))
    p = RunnerProtocol()
    with pytest.raises(ProtocolViolation, match=r"'tests/x\.py::test_forged' that was never collected"):
        vendor._converse(channel, p, transport, 5.0, time.monotonic() + 30)
    assert transport.commands == ["acme-calc 1 1"]
    assert json.loads(channel.sent[0])["rc"] == 0
    assert p.running[0] == A


def test_the_controller_sees_eof_before_done():
    channel = FakeChannel(line({"collected": [A]}) + b"\n" + line({"start": A}) + b"\n")
    p = RunnerProtocol()
    assert vendor._converse(channel, p, FakeTransport(), 5.0, time.monotonic() + 30) is False
    assert p.running[0] == A


def test_an_answer_the_runner_never_reads_cannot_block_the_controller():
    r, w = os.pipe()
    try:
        chan = type("C", (), {})()
        chan.proc = type("P", (), {})()
        chan.proc.stdin = os.fdopen(w, "wb", buffering=0)
        t = time.monotonic()
        with pytest.raises(vendor._PastDeadline):
            vendor._send(chan, b"x" * (4 << 20), time.monotonic() + 0.5)  # more than a pipe holds
        assert time.monotonic() - t < 3
        chan.proc.stdin.close()
    finally:
        os.close(r)


class FakeContainer:
    def __init__(self, content: bytes | None):
        self.content = content

    def get_archive(self, path, chunk_size):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("pytest.log")
            info.size = len(self.content)
            tar.addfile(info, io.BytesIO(self.content))
        data = buf.getvalue()
        return (data[i:i + chunk_size] for i in range(0, len(data), chunk_size)), {"size": len(self.content)}


def test_the_runners_log_is_read_bounded_keeping_its_end():
    big = b"".join(b"line %d\n" % i for i in range(400_000))  # ~4.6 MB
    text = vendor_log.runner_log(FakeContainer(big))
    assert text.startswith("[... the first ") and text.endswith("line 399999\n")
    assert len(text.encode()) < vendor_log.LOG_KEEP + 100
    assert vendor_log.runner_log(FakeContainer(b"short\n")) == "short\n"
    assert vendor_log.tail("a\n" * 100).count("\n") == vendor_log.TAIL_LINES - 1
    assert len(vendor_log.tail("z" * 10_000)) == vendor_log.TAIL_CHARS + 3


COLLECTION_ERROR = """\
==================================== ERRORS ====================================
____________________ ERROR collecting tests/test_syntax.py _____________________
/usr/lib/python3/dist-packages/_pytest/python.py:617: in _importtestmodule
    mod = import_path(self.path, mode=importmode, root=self.config.rootpath)
E     File "/work/sub/tests/test_syntax.py", line 3
E       def test_x(
E                  ^
E   SyntaxError: '(' was never closed
=========================== short test summary info ============================
ERROR tests/test_syntax.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!!
"""


def test_what_stopped_the_vendors_pytest_is_said_in_one_line_with_its_own_paths():
    """New user: a syntax error in a vendor test said only "exit status 2 (interrupted: ...)"; the
    SyntaxError came 1,300 characters later, with the runner's paths (/work/sub/tests/...)."""
    assert vendor_log.collection_error(COLLECTION_ERROR) == ("tests/test_syntax.py: SyntaxError: '(' was never closed "
                                                             "(line 3)")
    assert "/work/sub/" not in vendor_log.as_submitted(COLLECTION_ERROR)
    assert vendor_log.as_submitted("ERROR work/sub/tests/t.py\nsee /work/sub/x and my/work/sub/y") == (
        "ERROR tests/t.py\nsee x and my/work/sub/y")
    imported = "E   ModuleNotFoundError: No module named 'acme'\nERROR tests/test_a.py\n"
    assert vendor_log.collection_error(imported) == "tests/test_a.py: ModuleNotFoundError: No module named 'acme'"
    assert vendor_log.collection_error("no tests ran\n") == ""


def test_a_bare_E_line_or_a_logged_ERROR_line_does_not_misname_the_cause():
    """Review: ``\\s+`` crossed the line end after a bare "E", and the first "ERROR x" could be a line
    the vendor's code logged, not pytest's summary."""
    log = ("ERROR fake/thing.py logged by the vendor\nE\nSyntaxError: bad\n"
           "E   NameError: name 'x' is not defined\nERROR tests/real.py\n")
    assert vendor_log.collection_error(log) == "tests/real.py: NameError: name 'x' is not defined"
