"""Debian packages through apt: dependencies come from the target's own repositories, fetched by
the lab's downloader; the install itself (maintainer scripts included) runs with no network."""

from __future__ import annotations

import re

from lab.deploy.base import DEB_ARCH, MIRROR_TROUBLE, Installer, Staged, download, q, run_step
from lab.errors import InfrastructureError, ProductFailure
from lab.facts import Facts
from lab.provision.target import Provisioned
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

    def fetch_dependencies(self, p: Provisioned, staged: Staged, timeout: float) -> None:
        self._check_arch(p, staged)
        result = download(p, staged, f"{APT} install --download-only {q(staged.target_path)}",
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
        raise ProductFailure(f"{staged.name} cannot be installed on {p.target.name} "
                             f"({p.facts.os_name or p.facts.os_id}): {why}")

    def install(self, p: Provisioned, staged: Staged, timeout: float) -> CommandResult:
        # Offline: the dependencies are already in apt's cache. (Not --no-download: apt then
        # refuses a local .deb with "Pathname to install is not absolute".)
        return run_step(p, f"{APT} install {q(staged.target_path)}", timeout,
                        f"installing {staged.name}")

    def uninstall(self, p: Provisioned, staged: Staged, timeout: float) -> CommandResult:
        pkg = q(staged.contents.package or "")
        return run_step(p, f"{APT} purge {pkg} && {APT} autoremove --purge", timeout,
                        f"purging {staged.contents.package}")
