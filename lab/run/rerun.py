"""``lab run --rerun-broken DIR``: run again only the targets the lab broke, in the same folder.

The broken attempt's logs are kept beside (``logs/<target>.attempt-N``) and its Allure results
stay, so the report shows the rerun as a retry of the same check on the same target.
"""

from __future__ import annotations

import json
from pathlib import Path

from lab.errors import InputError
from lab.inventory.load import LoadedInventory
from lab.results.model import Verdicts
from lab.run.plan import Plan


def plan_rerun(folder: Path, inv: LoadedInventory) -> tuple[Plan | None, Verdicts]:
    folder = folder.resolve()
    try:
        previous = Verdicts.model_validate_json((folder / "verdicts.json").read_text())
        described = json.loads((folder / "plan.json").read_text())
    except FileNotFoundError as exc:
        raise InputError(str(folder), [f"not a run folder: {Path(exc.filename).name} missing"]) from None
    broken = [name for name, r in previous.targets.items() if r.verdict == "broken"]
    if not broken:
        return None, previous
    submission = Path(described["submission"])
    if not submission.exists():
        raise InputError(str(folder / "plan.json"), [f"submission: {submission} no longer exists"])
    targets = inv.select(broken, given_as="--rerun-broken (the targets broken in that run)")
    for name in broken:
        _set_aside(folder, name)
    return Plan(previous.run, targets, described["suites"], folder, submission), previous


def _set_aside(folder: Path, target: str) -> None:
    (folder / "targets" / f"{target}.json").unlink(missing_ok=True)
    logs = folder / "logs" / target
    if logs.exists():
        n = 1
        while (folder / "logs" / f"{target}.attempt-{n}").exists():
            n += 1
        logs.rename(folder / "logs" / f"{target}.attempt-{n}")
