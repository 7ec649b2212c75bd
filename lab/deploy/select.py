"""Choosing the installer from the target's facts; when none accepts, every refusal is the reason."""

from __future__ import annotations

from lab.deploy.base import Installer
from lab.deploy.deb import DebInstaller
from lab.deploy.rpm import RpmInstaller
from lab.deploy.tar import TarInstaller
from lab.errors import NotApplicable
from lab.facts import Facts
from lab.submission.model import Artifact

INSTALLERS: list[type[Installer]] = [DebInstaller, RpmInstaller, TarInstaller]


def choose_installer(artifact: Artifact, facts: Facts) -> Installer:
    """A new installer for the artifact (it keeps what it downloaded for one target)."""
    reasons = []
    for kind in INSTALLERS:
        installer = kind()
        ok, why = installer.accepts(artifact, facts)
        if ok:
            return installer
        reasons.append(why)
    raise NotApplicable(f"{artifact.path}: no installer accepts it here ({'; '.join(reasons)})")
