"""Debian packages through apt: dependencies come from the target's own repositories, fetched by
the lab's downloader; the install itself (maintainer scripts included) runs with no network."""

from __future__ import annotations

import re

from lab.deploy.base import DEB_ARCH, MIRROR_TROUBLE, Batch, Installer, Staged, download, names, paths, q, run_step
from lab.errors import InfrastructureError, ProductFailure
from lab.facts import Facts
from lab.provision.base import Provisioned
from lab.submission.model import Artifact
from lab.transport.base import CommandResult

APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends"


class DebInstaller(Installer):
    format = "deb"

    def accepts(self, artifact: Artifact, facts: Facts) -> tuple[bool, str]:
        if artifact.format != "deb":
            return False, "deb installer: artifact is not a .deb"
        if facts.package_manager not in ("apt", "dpkg"):
            return False, f"deb installer: target uses {facts.package_manager}, not dpkg"
        return True, ""

    def _check_arch(self, p: Provisioned, staged: Staged) -> None:
        arch = staged.contents.control.get("Architecture", "")
        want = DEB_ARCH.get(p.facts.arch, p.facts.arch)
        if arch not in ("all", want):
            raise ProductFailure(f"{staged.name} is built for {arch}; {p.target.name} is {want} "
                                 f"({p.facts.arch})")

    def fetch_dependencies(self, p: Provisioned, batch: Batch, timeout: float) -> None:
        for staged in batch:
            self._check_arch(p, staged)
        result, self.dependency_archive = download(p, batch, f"{APT} install --download-only {paths(batch)}",
                                                   "/var/cache/apt/archives", timeout)
        if result.ok:
            return
        text = result.stdout + result.stderr
        if any(s in text for s in MIRROR_TROUBLE):
            raise InfrastructureError(f"downloading dependencies from the mirror failed:\n"
                                      f"{result.evidence()}")
        unmet = [line.strip() for line in text.splitlines()
                 if re.search(r"Depends:|Conflicts:|Breaks:|PreDepends:", line)]
        why = "\n".join(unmet) if unmet else result.evidence()
        raise ProductFailure(f"{names(batch)} cannot be installed on {p.target.name} "
                             f"({p.facts.os_name or p.facts.os_id}): {why}")

    def install(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        # Offline: the dependencies are already in apt's cache. (Not --no-download: apt then
        # refuses a local .deb with "Pathname to install is not absolute".)
        return run_step(p, f"{APT} install {paths(batch)}", timeout, f"installing {names(batch)}")

    def uninstall(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        pkgs = " ".join(q(s.contents.package or "") for s in batch)
        return run_step(p, f"{APT} purge {pkgs} && {APT} autoremove --purge", timeout,
                        f"purging {', '.join(s.contents.package or s.name for s in batch)}")
