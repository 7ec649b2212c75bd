"""What OS a board runs now, asked read-only, for ``lab recertify``.

A board is not rebuilt from a recipe the lab holds: an engineer upgrades it (a new openEuler
service pack, a kernel update). Its certificates name the OS they were issued on (``issued_on.os``,
``lab.certs.certificate.board_basis``); comparing that with what the board says now tells which are
due again. The board is not locked (a run may hold it: the facts are read, nothing is changed) nor
checked against the inventory's declaration (an upgrade past it is exactly what is looked for).

Example::

    os_now(inv.model.get("board-openeuler-arm64"), inv.model.lab)
    # {"os_id": "openEuler", "os_version": "22.03", "kernel": "5.10.0-153...", "glibc": "2.34", ...}
"""

from __future__ import annotations

from lab.certs.certificate import board_basis
from lab.errors import InfrastructureError, LabError
from lab.facts import PROBE, parse_probe
from lab.inventory.model import LabSettings, Target

PROBE_TIMEOUT_S = 30.0


def os_now(target: Target, lab: LabSettings) -> dict[str, str]:
    """The board's OS facts as a certificate keeps them; ``InfrastructureError`` when it cannot say."""
    from lab.transport.ssh import SshTransport

    try:
        transport = SshTransport(target.name, target.ssh, lab.allowed_networks)  # an unset password: InputError
    except InfrastructureError as exc:
        raise InfrastructureError(f"{target.name} could not be reached: {exc}") from None
    try:
        result = transport.run(PROBE, timeout=PROBE_TIMEOUT_S)
    except LabError as exc:
        raise InfrastructureError(f"{target.name} did not answer: {exc}") from None
    finally:
        transport.close()
    if not result.ok:
        raise InfrastructureError(f"{target.name}: gathering facts failed:\n{result.evidence()}")
    return board_basis(target.name, parse_probe(result.stdout).model_dump())["os"]


def boards_now(targets: list[Target], lab: LabSettings) -> dict[str, dict[str, str] | str]:
    """Each board's OS now, or why it is not known (said, never a reason to run again by itself)."""
    found: dict[str, dict[str, str] | str] = {}
    for target in targets:
        try:
            found[target.name] = os_now(target, lab)
        except InfrastructureError as exc:
            found[target.name] = str(exc)
    return found
