"""A waived check in the run's Allure results: still the failure it was (its message, steps and
attachments are the evidence), marked *muted* and *known* so the report does not count it
against the target, named ``[waived]``, tagged ``waived``, with the waiver's reason, reviewer and
expiry in front of its message and as parameters."""

from __future__ import annotations

import json
from pathlib import Path

from lab.waivers.apply import Applied

MAX_RESULT_BYTES = 8 << 20


def _labels(result: dict) -> dict[str, str]:
    return {lab.get("name"): lab.get("value") for lab in result.get("labels") or [] if isinstance(lab, dict)}


def mark_allure(results_dir: Path, applied: Applied) -> int:
    """Mark each waived check's Allure result; how many files were changed."""
    wanted = {(u.target, u.check): u.entry for u in applied.waived}
    if not wanted or not Path(results_dir).is_dir():
        return 0
    changed = 0
    for path in sorted(Path(results_dir).glob("*-result.json")):
        if path.is_symlink() or path.stat().st_size > MAX_RESULT_BYTES:
            continue
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        labels = _labels(result)
        entry = wanted.get((labels.get("parentSuite"), labels.get("subSuite")))
        if entry is None or result.get("status") != "failed":
            continue
        details = result.setdefault("statusDetails", {})
        note = (f"WAIVED until {entry.expires.isoformat()} by {entry.reviewer}: {entry.reason}")
        details["message"] = note + ("\n\n" + details["message"] if details.get("message") else "")
        details["muted"] = True
        details["known"] = True
        if not str(result.get("name", "")).endswith("[waived]"):
            result["name"] = f"{result.get('name', '')} [waived]"
        result.setdefault("labels", []).append({"name": "tag", "value": "waived"})
        params = result.setdefault("parameters", [])
        params += [{"name": "waiver reason", "value": entry.reason},
                   {"name": "waiver reviewer", "value": entry.reviewer},
                   {"name": "waiver expires", "value": entry.expires.isoformat()}]
        path.write_text(json.dumps(result))
        changed += 1
    return changed
