"""RPM packages through dnf (or yum): dependencies downloaded online, installed from the cache.

Not exercised on this Debian-only lab: its rpm targets (openEuler, Kylin) need a registry or
boards; on a dpkg target the installer refuses and the artifact is *skipped* with that reason.
"""

from __future__ import annotations

from lab.deploy.base import Batch, Installer, download, names, paths, q, run_step
from lab.errors import ProductFailure
from lab.facts import Facts
from lab.provision.base import Provisioned
from lab.reasons import CANNOT_INSTALL
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

    def fetch_dependencies(self, p: Provisioned, batch: Batch, timeout: float) -> None:
        from lab.cache.deps import BatchCache

        command = f"{self._tool(p)} install -y --downloadonly --downloaddir={DEPS} {paths(batch)}"
        # dnf refreshes its own metadata: a resolution kept in the cache is trusted for the day it was made.
        cache = self.dependency_memo = BatchCache.open(p, batch, "rpm", DEPS, ".rpm", command.replace(paths(batch), ""))
        if cache is not None:
            cache.installed = p.transport.run("rpm -qa | sort | md5sum").stdout.strip()
            cache.use_lists(False, day=True)
            if (archive := cache.restore(DEPS)) is not None:
                self.dependency_archive = archive
                return
        got = download(p, batch, command, DEPS, timeout)
        self.dependency_archive, result = got.archive, got.result
        if result.ok and cache is not None and got.archive:
            cache.store(got.archive, seconds=got.seconds)
        if not result.ok:
            raise ProductFailure(CANNOT_INSTALL.say(names=names(batch), target=p.target.name,
                                                    said="\n" + result.evidence()))

    def install(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        return run_step(p, f"{self._tool(p)} install -y --disablerepo='*' $(ls {DEPS}/*.rpm 2>/dev/null) "
                           f"{paths(batch)}", timeout, f"installing {names(batch)}")

    def uninstall(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        pkgs = " ".join(f"$(rpm -qp --qf %{{NAME}} {q(s.target_path)})" for s in batch)
        return run_step(p, f"{self._tool(p)} remove -y {pkgs}", timeout, f"removing {names(batch)}")
