"""At the end of a run: a signed certificate for each target that passed, none for the others."""

from __future__ import annotations

import json
from pathlib import Path

from lab.certs.certificate import issue
from lab.certs.keys import key_path, load_or_create
from lab.certs.render import certificate_html
from lab.inventory.model import LabSettings
from lab.results.model import Verdicts
from lab.results.write import write_atomic


def issue_certificates(verdicts: Verdicts, out: Path, lab: LabSettings, only: set[str] | None = None
                       ) -> dict[str, dict]:
    """Sign, write and return (target -> document) a certificate for each target that passed."""
    passed = {name: r for name, r in verdicts.targets.items()
              if r.verdict == "passed" and (only is None or name in only)}
    if not passed or verdicts.interrupted:
        return {}
    key = load_or_create(key_path(lab.signing_key))
    written = {}
    for name, result in passed.items():
        cert = issue(verdicts, name, result, key, lab.name)
        path = out / "certificates" / f"{name}.json"
        write_atomic(path, json.dumps(cert, indent=2, ensure_ascii=False) + "\n")
        write_atomic(path.with_suffix(".html"), certificate_html(cert, path.name))
        written[name] = cert
    return written
