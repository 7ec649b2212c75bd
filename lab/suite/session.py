"""Everything one worker knows about its target, built lazily and torn down once.

The plugin's fixtures hand out parts of this object; its ``checks`` become the target's entry in
``verdicts.json``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lab.inventory.load import LoadedInventory, load_inventory
from lab.provision.base import Provisioned
from lab.provision.target import provision
from lab.results.model import Check, Evidence, TargetResult, reason_of, reduce
from lab.results.write import write_atomic
from lab.submission.load import LoadedSubmission, load_for_lab
from lab.suite.registry import report_rank
from lab.suite.state import RunState
from lab.text import trim
from lab.transport.base import CommandResult, redact

if TYPE_CHECKING:  # loaded once the target is starting (with the suites), not before it starts
    from lab.deploy.deployment import Deployment
    from lab.observe.owners import Owners

EVIDENCE_KEEP = 12


@dataclass
class WorkerOptions:
    target: str
    inventory: Path
    submission: Path
    run_id: str
    out: Path
    suites: list[str] | None = None
    digests: dict[str, str] = field(default_factory=dict)


@dataclass
class LabSession:
    opts: WorkerOptions
    inventory: LoadedInventory = None
    submission: LoadedSubmission = None
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    state: RunState = field(default_factory=RunState)  # handed on between checks
    provisioned: Provisioned | None = None
    interrupted: bool = False
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _commands: list[CommandResult] = field(default_factory=list)
    # Commands of the lab's background threads (the stability watch), kept apart from the check
    # that happens to run meanwhile; the check they belong to adopts them (``adopt_commands``).
    _aside: dict[str, collections.deque[CommandResult]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inventory = load_inventory(self.opts.inventory)
        self.submission = load_for_lab(self.opts.submission, self.inventory.model.lab, self.opts.digests)
        self.target_spec = self.inventory.model.get(self.opts.target)
        self.logs = self.opts.out / "logs" / self.opts.target
        self.logs.mkdir(parents=True, exist_ok=True)
        self.command_log = self.logs / "commands.log"
        self.event("started")

    # -- the target ----------------------------------------------------------------------------
    def provision_early(self) -> None:
        """Start the target while pytest collects the suites (seconds of imports): the two wait for
        nothing in each other. ``provision()`` joins it; a failure there is raised once, as if it had
        happened in ``provision()`` itself, and a later call tries again as before."""
        def work() -> None:
            try:
                self.provision()
            except BaseException as exc:  # handed to the first provision() of the main thread
                self._early_error = exc

        self._early_error = None
        self._early = threading.Thread(target=work, name="provision", daemon=True)
        self._early.start()

    def _join_early(self) -> None:
        early, self._early = getattr(self, "_early", None), None
        if early is not None:
            early.join()
            error, self._early_error = self._early_error, None
            if error is not None:
                raise error

    def provision(self) -> Provisioned:
        if threading.current_thread() is threading.main_thread():
            self._join_early()
        if self.provisioned is None:
            self.event("provisioning")
            lab = self.inventory.model.lab
            layer = self._layer(lab)
            self.provisioned = self._stack.enter_context(provision(self.target_spec, self.opts.run_id, lab, layer))
            self.provisioned.transport.default_timeout = self.limits()["command_timeout"]
            self.provisioned.transport.observe(self._record_command)
            self.provisioned.transport.observe(self._log_command)
            self.provisioned.say = self._say
            self.event("provisioned", facts=self.provisioned.facts.summary())
        return self.provisioned

    def _layer(self, lab):
        """A prepared layer with this submission's OS dependencies to start from (``lab.cache.layers``)."""
        from lab.cache.layers import find

        layer = find(lab, self.target_spec, self.opts.digests, say=self._say)
        if layer is not None:
            self._say(f"starting from the prepared layer {layer.image[7:19]} (the image with this submission's "
                      f"OS dependencies, built {time.strftime('%Y-%m-%d %H:%M', time.localtime(layer.built))})")
        return layer

    def prepare_layer(self) -> None:
        """Once the checks that run during the stability watch are done, while the rest of it waits
        (the machine is idle then): a prepared layer for the next run of these very files, built
        apart from the target; the run's end waits for it."""
        p, d = self.provisioned, self.state.deployment
        if p is None or p.handle is None or p.layer is not None or d is None or not d.installed:
            return
        from lab.cache.layers import applies

        if not applies(self.target_spec):
            return
        plans = [i.layer_plan for i, _ in d.batches if getattr(i, "layer_plan", None) is not None]
        if len(plans) != 1:
            return
        from lab.cache.layers import BUILD_WAIT_S, Builder

        builder = Builder(self.inventory.model.lab, self.target_spec, self.opts.run_id, self.opts.digests,
                          plans[0], self._say)
        self.defer(lambda: builder.wait(0 if self.interrupted else BUILD_WAIT_S))

    def _record_command(self, result: CommandResult) -> None:
        thread = threading.current_thread()
        if thread is threading.main_thread():
            self._commands.append(result)
        else:
            self._aside.setdefault(thread.name, collections.deque(maxlen=EVIDENCE_KEEP)).append(result)

    def adopt_commands(self, thread_name: str) -> None:
        """The last commands a background thread ran become the current check's evidence."""
        self._commands.extend(self._aside.pop(thread_name, ()))

    def _say(self, text: str) -> None:
        """The lab's own note about this target (the dependency cache's hits and fallbacks): in the
        worker's event log and ``cache.log``, never in a check's message."""
        self.event("cache", text=text)
        with (self.logs / "cache.log").open("a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def _log_command(self, result: CommandResult) -> None:
        from lab.report.allure_worker import command_log_line, command_step

        with self.command_log.open("a") as fh:
            fh.write(command_log_line(result))
        if threading.current_thread() is threading.main_thread():
            # Allure's steps belong to the check under way, which only the main thread knows; a
            # background thread's commands (the stability watch) are adopted as evidence instead.
            command_step(result)

    def limits(self) -> dict[str, float]:
        """The submission's limits where it sets them, never beyond the lab's maxima."""
        lab = self.inventory.model.lab.limits
        sub = self.submission.model.limits
        return {"install_timeout": self.submission.model.install_timeout(lab),
                "command_timeout": min(sub.command_timeout or lab.command_timeout, lab.max_command_timeout)}

    def deployment(self) -> Deployment:
        if self.state.deployment is None:
            from lab.deploy.deployment import Deployment

            d = Deployment(self.provision(), self.submission, self.limits()["install_timeout"])
            d.plan()
            self.state.deployment = d
        return self.state.deployment

    def owners(self) -> Owners:
        """Who put each path on the target, worked out once, when a check first needs it."""
        if self.state.owners is None:
            from lab.observe.owners import Owners, dpkg_lookup

            observer = self.provision().observer()
            lookup = None if observer.trusted else dpkg_lookup(self.provision().transport)
            self.state.owners = Owners.of(self.deployment(), lookup)
        return self.state.owners

    def instruments_changed(self) -> list[str]:
        """Programs, libraries and loader settings the lab reads the target through that changed
        since the install was judged, the product's own packaged files aside
        (``lab.observe.instruments``). Empty where the lab cannot see from outside (a board, read
        through its own tools all along)."""
        observer = self.provision().observer()
        if not observer.trusted or self.state.installed is None:
            return []
        from lab.observe.instruments import tampered

        owners = self.owners()
        return [p for p in tampered(self.state.installed, observer.state()) if owners.owner(p)[0] != "product"]

    def defer(self, cleanup) -> None:
        """Run at teardown, before the target itself goes (last registered, first run)."""
        self._stack.callback(cleanup)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._join_early()  # a target still starting is torn down with the rest
        self._stack.close()
        self.submission.cleanup()

    # -- recording -----------------------------------------------------------------------------
    def begin_check(self) -> None:
        self._commands.clear()
        self._note = ""

    def note(self, text: str) -> None:
        """A message for a check that passes anyway (an advisory finding, a measured figure)."""
        self._note = text

    def end_check(self, check_id: str, outcome: str, message: str, duration: float, required: bool) -> None:
        evidence = [Evidence(command=c.command[:2000], exit_status=c.exit_status,
                             output=trim((c.stdout + c.stderr).strip()), duration_s=round(c.duration_s, 3))
                    for c in self._commands[-EVIDENCE_KEEP:]]
        message = message or getattr(self, "_note", "")
        if self.provisioned is not None:
            message = redact(message, self.provisioned.transport.secrets)
        self.checks.append(Check(id=check_id, outcome=outcome, message=trim(message),
                                 duration_s=round(duration, 3), required=required, evidence=evidence))
        self.event("check", id=check_id, outcome=outcome)
        self._commands.clear()

    def add_check(self, check_id: str, outcome: str, message: str, duration: float) -> None:
        """A check found inside another one (each of the vendor's own tests)."""
        from lab.report.allure_worker import nested_result

        self.checks.append(Check(id=check_id, outcome=outcome, message=trim(message), duration_s=duration))
        nested_result(self.opts.out / "allure-results", self, check_id, outcome, trim(message), duration)
        self.event("check", id=check_id, outcome=outcome)

    def event(self, kind: str, **data) -> None:
        with (self.logs / "events.jsonl").open("a") as fh:
            fh.write(json.dumps({"t": time.time(), "event": kind, **data}) + "\n")

    def result(self) -> TargetResult:
        # In the report's order, whatever order they ran in (some run during the stability watch).
        self.checks.sort(key=lambda c: report_rank(c.id))
        verdict = reduce(self.checks)
        facts = self.provisioned.facts.summary() if self.provisioned else {}
        deployed = self.state.deployment.deployed if self.state.deployment is not None else []
        return TargetResult(verdict=verdict, reason=reason_of(self.checks, verdict), facts=facts,
                            checks=self.checks, metrics=self.metrics, installed_artifacts=deployed)

    def write_result(self) -> Path:
        path = self.opts.out / "targets" / f"{self.opts.target}.json"
        result = self.result()
        write_atomic(path, result.model_dump_json(indent=2))
        self.event("finished", verdict=result.verdict)
        return path
