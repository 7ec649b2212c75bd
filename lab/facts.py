"""Facts about a target, gathered once with one command and stored with every result.

Installers, suites and reports choose from these, never from what the inventory merely declares;
a target whose real facts contradict its declaration is the lab's fault (*broken*).
"""

from __future__ import annotations

import shlex

from pydantic import BaseModel

from lab.errors import InfrastructureError
from lab.images.host import host_arch
from lab.inventory.model import Target
from lab.transport.base import Transport

PROBE = r"""
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')"
for m in apt-get dpkg dnf yum rpm; do command -v $m >/dev/null 2>&1 && echo "has=$m"; done
sed -n 's/^\(ID\|VERSION_ID\|PRETTY_NAME\|ID_LIKE\|VERSION_CODENAME\)=/os_\1=/p' /etc/os-release
echo "snapshot=$(cat /etc/lab-image-snapshot 2>/dev/null)"
c=/sys/fs/cgroup
echo "memory_max=$(cat $c/memory.max 2>/dev/null || cat $c/memory/memory.limit_in_bytes 2>/dev/null)"
echo "pids_max=$(cat $c/pids.max 2>/dev/null || cat $c/pids/pids.max 2>/dev/null)"
v1cpu() { echo "$(cat $c/cpu/cpu.cfs_quota_us) $(cat $c/cpu/cpu.cfs_period_us)"; }
echo "cpu_max=$(cat $c/cpu.max 2>/dev/null || v1cpu 2>/dev/null)"
"""


class Facts(BaseModel):
    arch: str
    emulated: bool
    os_id: str
    os_version: str
    os_name: str = ""
    os_like: str = ""
    codename: str = ""
    package_manager: str
    kernel: str
    glibc: str | None = None
    db_engine: str | None = None
    db_server: str | None = None
    db_version: str | None = None
    db_profiles: str | None = None
    snapshot: str | None = None      # when the image's packages were brought up to date (updates, security)
    memory_limit: str | None = None  # the limits the target really runs under, read from its cgroup
    pids_limit: str | None = None
    cpu_limit: str | None = None
    desktop: str | None = None          # desktop targets only: the environment (UKUI), its version,
    desktop_version: str | None = None  # the lab's display, the UTF-8 locales
    display: str | None = None
    locales: str | None = None
    # Container targets: the recipe hash the image the target was started from carries (its
    # ``lab.recipe`` label, read by the lab, not in the target): what a certificate says it was issued on.
    image_recipe: str | None = None

    def summary(self) -> dict[str, str]:
        """The facts as people read them (in results and certificates): ``emulated: yes``."""
        return {k: ("yes" if v else "no") if isinstance(v, bool) else str(v)
                for k, v in self.model_dump().items() if v not in (None, "")}


def _package_manager(has: list[str]) -> str:
    for first, name in (("dnf", "dnf"), ("yum", "yum"), ("apt-get", "apt"), ("rpm", "rpm"),
                        ("dpkg", "dpkg")):
        if first in has:
            return name
    return "none"


def parse_probe(text: str) -> Facts:
    values: dict[str, str] = {}
    has: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "has":
            has.append(value)
        else:
            values[key] = " ".join(shlex.split(value)) if value else ""
    version = values.get("os_VERSION_ID", "")
    if not version and values.get("os_ID") == "debian":
        version = {"trixie": "13", "forky": "14"}.get(values.get("os_VERSION_CODENAME", ""), "testing")
    arch = values.get("arch", "")
    return Facts(
        arch=arch, emulated=arch != host_arch(), os_id=values.get("os_ID", "unknown"),
        os_version=version, os_name=values.get("os_PRETTY_NAME", ""),
        os_like=values.get("os_ID_LIKE", ""), codename=values.get("os_VERSION_CODENAME", ""),
        package_manager=_package_manager(has), kernel=values.get("kernel", ""),
        glibc=values.get("glibc") or None, snapshot=values.get("snapshot") or None,
        memory_limit=_memory(values.get("memory_max", "")), pids_limit=_limit(values.get("pids_max", "")),
        cpu_limit=_cpus(values.get("cpu_max", "")),
    )


def _limit(value: str) -> str | None:
    return None if not value or value == "max" else value


UNLIMITED_MEMORY = 1 << 60  # cgroup v1 says "no limit" as the largest page-aligned number


def _memory(value: str) -> str | None:
    """cgroup v2 ``memory.max`` (``max``: none) or v1 ``memory.limit_in_bytes`` (a huge number: none)."""
    if not value.isdigit() or int(value) >= UNLIMITED_MEMORY:
        return None
    n = int(value)
    return f"{n >> 30} GiB" if n % (1 << 30) == 0 else f"{n >> 20} MiB"


def _cpus(value: str) -> str | None:
    """``quota period`` in microseconds: cgroup v2 ``cpu.max`` (quota ``max``: none), or v1's
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (quota -1: none)."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return f"{int(parts[0]) / int(parts[1]):g}"


def gather(transport: Transport, target: Target) -> Facts:
    result = transport.run(PROBE, timeout=60)
    if not result.ok:
        raise InfrastructureError(f"{target.name}: gathering facts failed:\n{result.evidence()}")
    facts = parse_probe(result.stdout)
    if target.database:
        db = target.database
        facts = facts.model_copy(update={"db_engine": db.engine, "db_server": db.server,
                                         "db_profiles": ",".join(db.profiles) or None})
    if "desktop" in target.all_tags:
        from lab.desktop.session import FACTS_PROBE, parse_facts

        facts = facts.model_copy(update=parse_facts(transport.run(FACTS_PROBE, timeout=60).stdout))
    declared = target.facts
    if facts.arch != declared.arch:
        raise InfrastructureError(
            f"{target.name}: the inventory declares {declared.arch} but the target runs {facts.arch}")
    if facts.os_id.lower() != declared.os_id.lower():
        raise InfrastructureError(
            f"{target.name}: the inventory declares {declared.os_id} but the target is {facts.os_id}")
    if facts.os_version != declared.os_version and not facts.os_version.startswith(declared.os_version + "."):
        raise InfrastructureError(
            f"{target.name}: the inventory declares os_version {declared.os_version} but the target is "
            f"{facts.os_id} {facts.os_version} ({facts.os_name or facts.codename})")
    return facts
