"""Every artifact of a submission on one target: planned from facts, installed in order, purged.

The suites share one ``Deployment`` per target, so the package is installed once and every later
check knows whether it is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.deploy.base import Installer, Staged
from lab.deploy.contents import read_contents
from lab.deploy.select import choose_installer
from lab.errors import NotApplicable
from lab.provision.target import Provisioned
from lab.submission.load import LoadedSubmission
from lab.transport.base import CommandResult


@dataclass
class Deployment:
    target: Provisioned
    submission: LoadedSubmission
    install_timeout: float
    steps: list[tuple[Installer, Staged]] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    installed: bool = False
    failure: str | None = None  # why install failed, for the checks that need it installed

    def plan(self) -> None:
        for art in self.submission.model.artifacts:
            local = self.submission.file(art.path)
            try:
                installer = choose_installer(art, self.target.facts)
            except NotApplicable as exc:
                self.not_applicable.append(str(exc))
                continue
            self.steps.append((installer, Staged(art, local, read_contents(art, local))))

    @property
    def applicable(self) -> bool:
        return bool(self.steps)

    def install(self) -> list[CommandResult]:
        """Stage, fetch dependencies online, install offline; raises ProductFailure on the first error."""
        results = []
        for installer, staged in self.steps:
            installer.stage(self.target, staged)
            installer.fetch_dependencies(self.target, staged, self.install_timeout)
            results.append(installer.install(self.target, staged, self.install_timeout))
        self.installed = True
        return results

    def reinstall(self) -> list[CommandResult]:
        return [i.install(self.target, s, self.install_timeout) for i, s in self.steps]

    def uninstall(self) -> list[CommandResult]:
        results = [i.uninstall(self.target, s, self.install_timeout) for i, s in reversed(self.steps)]
        self.installed = False
        return results

    def installed_paths(self) -> list[str]:
        return [p for installer, staged in self.steps for p in installer.installed_paths(staged)]

    def prefixes(self) -> list[str]:
        return [s.artifact.prefix for _, s in self.steps if s.artifact.prefix]

    def elves(self):
        return [e for _, s in self.steps for e in s.contents.elves]

