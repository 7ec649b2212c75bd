"""At the end of a run: a signed certificate for each target that passed, none for the others.

Each certificate names what it was issued on, so that ``lab recertify`` can tell when that
changed: the target image's recipe hash (``lab.images.recipe``), or a board's OS facts; the
suites' version (``lab.suite.registry.suites_version``); and the SBOM of the product on that
target when the run wrote one (``DIR/sbom/<target>.cdx.json``). It is valid for
``[lab.policy] certificate_days``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lab.certs.certificate import board_basis, certified_artifacts, image_basis, issue
from lab.certs.keys import key_path, load_or_create
from lab.certs.render import certificate_html
from lab.errors import InfrastructureError, InputError
from lab.inventory.load import LoadedInventory
from lab.inventory.model import LabSettings
from lab.results.model import TargetResult, Verdicts
from lab.results.write import write_atomic
from lab.submission.load import sha256_file


def basis_of(inv: LoadedInventory | None, name: str, result: TargetResult) -> dict | None:
    """What the target is: its image and recipe hash, or the board's OS facts; None when the
    inventory does not know it (then nothing is claimed)."""
    if inv is None:
        return None
    try:
        target = inv.model.get(name)
    except KeyError:
        return None
    if target.backend == "ssh":
        return board_basis(name, result.facts)
    ran_on = result.facts.get("image_recipe")  # the image the target was started from
    if ran_on:
        return image_basis(target.docker.image, ran_on)
    from lab.images.recipe import recipe_for

    try:  # results from before the image's recipe was among the facts: the inventory's, now
        recipe = recipe_for(inv, target)
    except (KeyError, OSError, InputError):
        recipe = None
    return image_basis(target.docker.image, recipe.digest if recipe else None)


def sbom_of(out: Path, name: str) -> dict | None:
    path = out / "sbom" / f"{name}.cdx.json"
    if not path.is_file() or path.is_symlink():
        return None
    return {"path": f"sbom/{name}.cdx.json", "sha256": sha256_file(path)}


def issue_certificates(verdicts: Verdicts, out: Path, lab: LabSettings, only: set[str] | None = None,
                       inventory: LoadedInventory | None = None) -> dict[str, dict]:
    """Sign, write and return (target -> document) a certificate for each target that passed, over
    the artifacts installed there."""
    passed = {name: r for name, r in verdicts.targets.items()  # and installed something to vouch for
              if r.verdict == "passed" and (only is None or name in only)
              and certified_artifacts(verdicts.submission, r)}
    if not passed or verdicts.interrupted:
        return {}
    from lab.suite.registry import suites_version

    key = load_or_create(key_path(lab.signing_key))
    try:
        version = suites_version()
    except InfrastructureError:  # a host without the suites installed: nothing is claimed
        version = None
    written = {}
    for name, result in passed.items():
        cert = issue(verdicts, name, result, key, lab.name, days=lab.policy.certificate_days,
                     basis=basis_of(inventory, name, result), suites_version=version, sbom=sbom_of(out, name))
        path = out / "certificates" / f"{name}.json"
        write_atomic(path, json.dumps(cert, indent=2, ensure_ascii=False) + "\n")
        write_atomic(path.with_suffix(".html"), certificate_html(cert, path.name))
        written[name] = cert
    return written
