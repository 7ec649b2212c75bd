"""A list of the target's paths, to name what an installer leaves behind after purge."""

from __future__ import annotations

from lab.errors import InfrastructureError
from lab.transport.base import Transport

# State that changes by itself or belongs to the package manager, not to the product.
VOLATILE = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/var/cache", "/var/lib/apt",
            "/var/lib/dpkg", "/var/log", "/var/lib/dnf", "/var/lib/rpm", "/var/lib/systemd",
            "/var/lib/ucf", "/root/.cache",
            "/var/lib/postgresql", "/var/lib/mysql"]  # the stack's database server: its data, not the product's


def snapshot(transport: Transport) -> set[str]:
    prune = " -o ".join(f"-path {p}" for p in VOLATILE)
    result = transport.run(f"find / -xdev \\( {prune} \\) -prune -o -print", timeout=300)
    if result.exit_status not in (0, 1):  # 1: a file vanished while find walked: harmless
        raise InfrastructureError(f"snapshot of the filesystem failed:\n{result.evidence()}")
    return set(result.stdout.splitlines())


# Backups that shadow's tools (useradd, userdel) write on every change of users: system state.
SHADOW_BACKUPS = {f"/etc/{n}-" for n in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")}


def leftovers(before: set[str], after: set[str]) -> list[str]:
    """New paths, folders collapsed: ``/opt/x`` rather than every file below it."""
    new = sorted(after - before - SHADOW_BACKUPS)
    out: list[str] = []
    for path in new:
        if out and path.startswith(out[-1] + "/"):
            continue
        out.append(path)
    return out
