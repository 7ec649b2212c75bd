"""Allure results worth reading, written by each worker.

Labels are set at collection time, so a skipped check keeps them: parentSuite = target, suite =
suite, subSuite = check; epic = product and version; tags = arch, OS, emulated; severity by how
much a check matters. Every command run on the target becomes a step with its command line, exit
code and duration, and its output attached (trimmed; the whole command log is attached once).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import allure
import pytest

from lab.images.host import host_arch
from lab.suite import registry
from lab.text import trim
from lab.transport.base import CommandResult

LABEL = "allure_label"


def _label(item, name: str, value: str) -> None:
    item.add_marker(getattr(pytest.mark, LABEL)(value, label_type=name))


def label_items(items, lab, check_id) -> None:
    spec = lab.target_spec
    product = lab.submission.model.product
    emulated = spec.facts.arch != host_arch()
    for item in items:
        cid, _required = check_id(item)
        suite = cid.split(".")[0]
        _label(item, "parentSuite", spec.name)
        _label(item, "suite", suite)
        _label(item, "subSuite", cid)
        _label(item, "epic", f"{product.name} {product.version}")
        _label(item, "feature", suite)
        _label(item, "story", cid)
        _label(item, "severity", registry.severity(cid))
        _label(item, "characteristic", registry.characteristic(cid))
        if getattr(item, "obj", None) is not None:  # the title allure-pytest reads at setup
            item.obj.__allure_display_name__ = f"{cid} on {spec.name}"
        for tag in (spec.facts.arch, f"{spec.facts.os_id}-{spec.facts.os_version}",
                    "emulated" if emulated else "native"):
            _label(item, "tag", tag)


def begin_check(item, lab, check_id: str) -> None:
    """Inside the test's setup: the target as a parameter (so each target has its own history)."""
    allure.dynamic.parameter("target", lab.target_spec.name)
    if lab.provisioned is not None:
        allure.attach(json.dumps(lab.provisioned.facts.summary(), indent=2), "target facts",
                      allure.attachment_type.JSON)


def command_step(result: CommandResult) -> None:
    title = f"$ {result.command.splitlines()[0][:150]} -> exit {result.exit_status} ({result.duration_s:.2f} s)"
    with allure.step(title):
        if result.stdout:
            allure.attach(trim(result.stdout), "stdout", allure.attachment_type.TEXT)
        if result.stderr:
            allure.attach(trim(result.stderr), "stderr", allure.attachment_type.TEXT)


def attach_png(path: Path, name: str) -> None:
    """A picture the check took (a desktop application's window) beside its steps."""
    allure.attach.file(str(path), name, allure.attachment_type.PNG)


def command_log_line(result: CommandResult) -> str:
    return (f"$ {result.command}\n[exit {result.exit_status}, {result.duration_s:.3f} s]\n"
            f"{result.stdout}{result.stderr}\n")


STATUS = {"passed": "passed", "failed": "failed", "broken": "broken", "skipped": "skipped"}


def nested_result(results: Path, lab, check_id: str, outcome: str, message: str, duration_s: float) -> None:
    """A check found inside another (each of the vendor's own tests) as an Allure result of its
    own, so the report lists every one of them beside the suite's checks."""
    spec = lab.target_spec
    product = lab.submission.model.product
    stop = int(time.time() * 1000)
    start = stop - int(max(0.0, duration_s) * 1000)
    suite = check_id.split(".")[0]
    labels = {"parentSuite": spec.name, "suite": suite, "subSuite": check_id,
              "epic": f"{product.name} {product.version}", "feature": suite, "story": check_id,
              "severity": registry.severity(check_id), "characteristic": registry.characteristic(check_id),
              "host": spec.name}
    result = {
        "uuid": str(uuid.uuid4()), "historyId": hashlib.md5(f"{spec.name}:{check_id}".encode()).hexdigest(),  # noqa: S324
        "name": f"{check_id} on {spec.name}", "fullName": f"{spec.name}:{check_id}",
        "status": STATUS.get(outcome, "unknown"), "stage": "finished", "start": start, "stop": stop,
        "statusDetails": {"message": message} if message else {},
        "labels": [{"name": k, "value": v} for k, v in labels.items()],
        "parameters": [{"name": "target", "value": spec.name}],
    }
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{result['uuid']}-result.json").write_text(json.dumps(result))


def picture(path: Path, name: str) -> None:
    """A chart the check drew (an SVG or PNG file), shown as a picture in the current check."""
    kind = allure.attachment_type.SVG if path.suffix == ".svg" else allure.attachment_type.PNG
    allure.attach.file(str(path), name, kind)
