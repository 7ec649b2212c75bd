"""A worker's results, as the service takes them in: checked like any input from outside, then
made the service's own.

The archive is unpacked by ``lab.submission.unpack`` (regular files and folders only, bounded,
without following links); ``verdicts.json`` must parse and hold exactly the cell's target and the
submission's product, version, vendor and artifacts; any certificate or report the worker sent is
dropped; the service's own vulnerability feed and waivers are applied; the service signs.
``Refused`` carries the HTTP code and the problems as ``{"file", "field", "message"}``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine

from lab.centre.models import Cell, Submission
from lab.centre.vulns import judged
from lab.errors import InputError
from lab.inventory.load import LoadedInventory
from lab.results.model import Outcome, TargetResult, Verdicts, reduce
from lab.results.write import write_atomic
from lab.validation import problems_of


class Refused(Exception):
    """The upload is refused: an HTTP code and the problems."""

    def __init__(self, code: int, problems: list[dict]):
        super().__init__(problems)
        self.code = code
        self.problems = problems


def problem(field: str, message: str, file: str = "verdicts.json") -> dict:
    return {"file": file, "field": field, "message": message}


def split_problems(problems: list[str], file: str) -> list[dict]:
    out = []
    for p in problems:
        field, sep, message = p.partition(": ")
        out.append(problem(field if sep else "", message if sep else p, file))
    return out


def consistency(name: str, r: TargetResult, declared: dict[str, str] | None) -> list[dict]:
    """A target's result must hang together as the lab makes it: each check counts as the lab's
    registry says (a worker cannot make a failure advisory), the verdict is what its checks make it
    (a hostile review sent "passed" over two failed checks and got a signed certificate), and the
    facts it reports are the target's the inventory declares. A host that holds the workers' secret
    could still lie about a check's outcome: the lab's hosts are its own (docs/service.md)."""
    from lab.suite import registry

    out = []
    recounted = [c.id for c in r.checks if c.required != registry.check(c.id).required]
    if recounted:
        out.append(problem(f"targets.{name}.checks", "count otherwise than the lab's registry says: "
                                                     + ", ".join(recounted[:5])))
    made = reduce(r.checks)
    if r.verdict != made and not (made == Outcome.SKIPPED and r.verdict == Outcome.BROKEN):
        out.append(problem(f"targets.{name}.verdict", f"is {r.verdict.value}, its checks make it {made.value}"))
    differ = [f"{k} {r.facts[k]!r} (the inventory's: {v!r})" for k, v in (declared or {}).items()
              if k in r.facts and r.facts[k] != v]
    if differ:
        out.append(problem(f"targets.{name}.facts", "are not the target's: " + "; ".join(differ)))
    return out


def check_verdicts(folder: Path, cell: Cell, sub: Submission, declared: dict[str, str] | None = None) -> Verdicts:
    path = folder / "verdicts.json"
    if not path.is_file() or path.is_symlink():
        raise Refused(422, [problem("", "the results hold no verdicts.json at their top")])
    if path.stat().st_size > 64 << 20:
        raise Refused(422, [problem("", "larger than 64 MiB")])
    try:
        v = Verdicts.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise Refused(422, split_problems(problems_of(exc)[:20], "verdicts.json")) from None
    problems = []
    if set(v.targets) != {cell.target}:
        problems.append(problem("targets", f"must hold exactly the cell's target {cell.target}, "
                                            f"not {', '.join(sorted(v.targets)) or 'none'}"))
    s = v.submission
    for field, have, want in (("name", s.name, sub.product), ("version", s.version, sub.version),
                              ("vendor", s.vendor, sub.vendor)):
        if have != want:
            problems.append(problem(f"submission.{field}", f"is {have!r}, the submission's is {want!r}"))
    for name, r in v.targets.items():
        problems += consistency(name, r, declared)
    want_artifacts = sorted((a["path"], a["sha256"]) for a in (sub.artifacts or []))
    if want_artifacts and sorted((a.path, a.sha256) for a in s.artifacts) != want_artifacts:
        problems.append(problem("submission.artifacts", "are not the submission's artifacts"))
    if problems:
        raise Refused(422, problems)
    return v


def prepare(archive: Path, incoming: Path, cell: Cell, sub: Submission, inv: LoadedInventory,
             engine: Engine) -> Verdicts:
    """Unpack and check the results, then make them the service's: its run id, its certificate."""
    from lab.certs.issue import issue_certificates
    from lab.submission.unpack import unpack

    try:
        unpack(archive, incoming, inv.model.lab.limits)
    except InputError as exc:
        raise Refused(422, split_problems(exc.problems, "results.tar.gz")) from None
    try:
        declared = inv.model.get(cell.target).facts.model_dump(include={"arch", "os_id", "os_version"})
    except KeyError:
        declared = None
    v = check_verdicts(incoming, cell, sub, declared)
    v = v.model_copy(update={"run": sub.run_id})
    for foreign in ("certificates", "report"):  # a worker never signs, nor renders for the service
        shutil.rmtree(incoming / foreign, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            (incoming / foreign).unlink()
    v = judged(v, incoming, engine, inv.model.lab.policy.fail_on_severity)  # the feed is the service's
    v = waived(v, incoming, inv)
    write_atomic(incoming / "verdicts.json", v.dump())
    issue_certificates(v, incoming, inv.model.lab, only={cell.target}, inventory=inv)
    return v


def waived(v: Verdicts, incoming: Path, inv: LoadedInventory) -> Verdicts:
    """The service's own waivers (``waivers.toml`` beside its inventory) over the cell's results, as
    ``lab run`` applies them (a worker's ``waived`` is judged again). A malformed file is the
    centre's fault, not the worker's: 503, and the worker's upload is retried once it is fixed."""
    from lab.waivers import apply_waivers, load_waivers
    from lab.waivers.report import mark_allure

    try:
        waivers = load_waivers(inv)
    except InputError as exc:
        raise Refused(503, [problem(p.split(":", 1)[0], p, file=exc.source) for p in exc.problems]) from None
    applied = apply_waivers(v, waivers)
    mark_allure(incoming / "allure-results", applied)
    return applied.verdicts


def swap_in(incoming: Path, final: Path) -> None:
    """Put the new results where the cell's results live, replacing an earlier attempt's."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{secrets.token_hex(4)}")
        os.rename(final, old)
    os.rename(incoming, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
