"""Choosing the installer from the target's facts; when none accepts, every refusal is the reason."""

from __future__ import annotations

from lab.deploy.base import Installer
from lab.deploy.deb import DebInstaller
from lab.deploy.rpm import RpmInstaller
from lab.deploy.tar import TarInstaller
from lab.errors import NotApplicable
from lab.facts import Facts
from lab.submission.model import Artifact

INSTALLERS: list[Installer] = [DebInstaller(), RpmInstaller(), TarInstaller()]


def choose_installer(artifact: Artifact, facts: Facts) -> Installer:
    reasons = []
    for installer in INSTALLERS:
        ok, why = installer.accepts(artifact, facts)
        if ok:
            return installer
        reasons.append(why)
    raise NotApplicable(f"{artifact.path}: no installer accepts it here ({'; '.join(reasons)})")
