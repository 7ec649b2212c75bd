"""Tarballs unpacked into their ``prefix``, then the vendor's ``install`` script, run there."""

from __future__ import annotations

from lab.deploy.base import Batch, Installer, q, run_step
from lab.errors import ProductFailure
from lab.facts import Facts
from lab.provision.base import Provisioned
from lab.submission.model import Artifact
from lab.transport.base import CommandResult

NOARCH = {None, "", "noarch", "all", "any"}


class TarInstaller(Installer):
    format = "tar"
    transactional = False

    def accepts(self, artifact: Artifact, facts: Facts) -> tuple[bool, str]:
        if artifact.format != "tar":
            return False, "tar installer: artifact is not a tarball"
        return True, ""

    def install(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        (staged,) = batch
        art = staged.artifact
        if art.arch not in NOARCH and art.arch != p.facts.arch:
            raise ProductFailure(f"{staged.name} is declared for {art.arch}; {p.target.name} is "
                                 f"{p.facts.arch}")
        prefix = q(art.prefix)
        result = run_step(p, f"mkdir -p {prefix} && tar -xf {q(staged.target_path)} -C {prefix} "
                             "--no-same-owner", timeout, f"unpacking {staged.name} into {art.prefix}")
        if art.install:
            result = run_step(p, f"cd {prefix} && sh ./{q(art.install)}", timeout,
                              f"running {art.install} of {staged.name}")
        return result

    def uninstall(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        (staged,) = batch
        art = staged.artifact
        prefix = q(art.prefix)
        if art.uninstall:
            run_step(p, f"cd {prefix} && sh ./{q(art.uninstall)}", timeout,
                     f"running {art.uninstall} of {staged.name}")
        return run_step(p, f"rm -rf {prefix}", timeout, f"removing {art.prefix}")
