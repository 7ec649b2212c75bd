"""RPM packages through dnf (or yum): dependencies downloaded online, installed from the cache.

Not exercised on this Debian-only lab: its rpm targets (openEuler, Kylin) need a registry or
boards; on a dpkg target the installer refuses and the artifact is *skipped* with that reason.
"""

from __future__ import annotations

from lab.deploy.base import Installer, Staged, download, q, run_step
from lab.errors import ProductFailure
from lab.facts import Facts
from lab.provision.target import Provisioned
from lab.submission.model import Artifact
from lab.transport.base import CommandResult

DEPS = "/var/tmp/lab-rpm-deps"


class RpmInstaller(Installer):
    format = "rpm"

    def accepts(self, artifact: Artifact, facts: Facts) -> tuple[bool, str]:
        if artifact.format != "rpm":
            return False, "rpm installer: artifact is not an .rpm"
        if facts.package_manager not in ("dnf", "yum"):
            return False, f"rpm installer: target uses {facts.package_manager}, not rpm"
        return True, ""

    def _tool(self, p: Provisioned) -> str:
        return p.facts.package_manager

    def fetch_dependencies(self, p: Provisioned, staged: Staged, timeout: float) -> None:
        result = download(p, staged, f"{self._tool(p)} install -y --downloadonly --downloaddir={DEPS} "
                                     f"{q(staged.target_path)}", DEPS, timeout)
        if not result.ok:
            raise ProductFailure(f"{staged.name} cannot be installed on {p.target.name}:\n{result.evidence()}")

    def install(self, p: Provisioned, staged: Staged, timeout: float) -> CommandResult:
        return run_step(p, f"{self._tool(p)} install -y --disablerepo='*' $(ls {DEPS}/*.rpm 2>/dev/null) "
                           f"{q(staged.target_path)}", timeout, f"installing {staged.name}")

    def uninstall(self, p: Provisioned, staged: Staged, timeout: float) -> CommandResult:
        name = f"$(rpm -qp --qf %{{NAME}} {q(staged.target_path)})"
        return run_step(p, f"{self._tool(p)} remove -y {name}", timeout, f"removing {staged.name}")
