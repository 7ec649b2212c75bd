"""Every artifact of a submission on one target: planned from facts, installed in order, purged.

The suites share one ``Deployment`` per target, so the package is installed once and every later
check knows whether it is there. Packages of one format form one transaction (placed where the
first of them is listed); tarballs go one by one, in the order given.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from lab.deploy.base import Batch, Installer, Staged
from lab.deploy.contents import read_contents
from lab.deploy.select import choose_installer
from lab.errors import NotApplicable
from lab.provision.base import Provisioned
from lab.submission.load import LoadedSubmission
from lab.transport.base import CommandResult


@dataclass
class Deployment:
    target: Provisioned
    submission: LoadedSubmission
    install_timeout: float
    steps: list[tuple[Installer, Staged]] = field(default_factory=list)
    batches: list[tuple[Installer, Batch]] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    installed: bool = False
    failure: str | None = None  # why install failed, for the checks that need it installed
    # The paths of the artifacts installed so far, in [[artifacts]] order; kept after uninstall. The
    # target's result carries them, and its certificate vouches for these alone (never for an
    # artifact this target refused, whose contents it never read).
    deployed: list[str] = field(default_factory=list)
    artifacts: list | None = None  # default the submission's [[artifacts]]; the upgrade suite plans upgrade.from
    packages_before: dict = field(default_factory=dict)  # name -> observe.packages.Installed, before install
    packages_after: dict = field(default_factory=dict)   # and right after it: the SBOM's resolved packages
    _indexing: list[Future] = field(default_factory=list)  # path -> package of each downloaded archive

    def plan(self) -> None:
        by_format: dict[str, tuple[Installer, Batch]] = {}
        for art in self.submission.model.artifacts if self.artifacts is None else self.artifacts:
            local = self.submission.file(art.path)
            try:
                installer = choose_installer(art, self.target.facts)
            except NotApplicable as exc:
                self.not_applicable.append(str(exc))
                continue
            lab = self.target.lab
            staged = Staged(art, local, read_contents(art, local, lab.limits if lab else None))
            if installer.transactional and installer.format in by_format:
                installer = by_format[installer.format][0]
                by_format[installer.format][1].append(staged)
            else:
                batch = [staged]
                self.batches.append((installer, batch))
                if installer.transactional:
                    by_format[installer.format] = (installer, batch)
            self.steps.append((installer, staged))

    @property
    def applicable(self) -> bool:
        return bool(self.steps)

    def install(self, before_product: Callable[[], None] | None = None) -> list[CommandResult]:
        """Stage, fetch dependencies online, install them offline in their own transaction where
        the format allows, then the product; raises ProductFailure on the first error.
        ``before_product`` is called between the two: what the target looks like with the OS
        packages in and the product not yet (the install suite's "before")."""
        from lab.observe.packages import parse_dpkg, snapshot

        if self.target.layer_pending:  # the image's packages, under the prepared layer's
            self.packages_before = parse_dpkg(self.target.layer.packages_before)
        else:
            self.packages_before = snapshot(self.target.transport, self.target.facts.package_manager)
        try:
            results = self._install(before_product)
        finally:
            self.target.layer_pending = False  # the first install only: never the upgrade suite's
        self.packages_after = snapshot(self.target.transport, self.target.facts.package_manager)
        return results

    def _install(self, before_product: Callable[[], None] | None) -> list[CommandResult]:
        results, done = [], set()
        for installer, batch in self.batches:
            for staged in batch:
                installer.stage(self.target, staged)
            installer.fetch_dependencies(self.target, batch, self.install_timeout)
            self._index(installer.dependency_archive, installer.dependency_memo)
            if (result := installer.install_dependencies(self.target, batch, self.install_timeout)) is not None:
                results.append(result)
        if before_product is not None:
            before_product()
        for installer, batch in self.batches:
            results.append(installer.install(self.target, batch, self.install_timeout))
            done.update(s.artifact.path for s in batch)
            self.deployed = [s.artifact.path for _, s in self.steps if s.artifact.path in done]
        self.installed = True
        return results

    def reinstall(self) -> list[CommandResult]:
        return [i.install(self.target, b, self.install_timeout) for i, b in self.batches]

    def uninstall(self) -> list[CommandResult]:
        results = [i.uninstall(self.target, b, self.install_timeout) for i, b in reversed(self.batches)]
        self.installed = False
        return results

    def installed_paths(self) -> list[str]:
        return [p for installer, staged in self.steps for p in installer.installed_paths(staged)]

    def packages(self) -> set[str]:
        """The product's own package names."""
        return {s.contents.package for _, s in self.steps if s.contents.package}

    def _index(self, archive: bytes | None, memo=None) -> None:
        """Read the file lists of the packages just downloaded while apt installs them on the target
        (a second of decompression that would otherwise wait for the first check asking who owns a
        path); those the dependency cache kept from an earlier run (``memo``) are not read again."""
        if archive:
            from lab.observe.owners import archive_packages

            pool = ThreadPoolExecutor(1, thread_name_prefix="index-dependencies")
            self._indexing.append(pool.submit(archive_packages, archive, memo))
            pool.shutdown(wait=False)  # its one task still runs; the thread ends with it

    def dependency_paths(self) -> list[dict[str, str]]:
        """path -> OS package, for each downloader's archive (``Owners.of``)."""
        if not self._indexing:
            for installer, _ in self.batches:
                self._index(installer.dependency_archive, installer.dependency_memo)
        return [f.result() for f in self._indexing]

    def fetched(self):
        """name -> ``lab.observe.packages.Installed`` of each OS .deb the lab's downloader fetched for
        the product, read from the packages themselves (apt verified them against the signed
        lists): what the package database must say the install brought. A tarball or rpm batch
        adds nothing (their packages are not held to it); None where a .deb batch's archive does
        not tell (a board that downloads for itself)."""
        from lab.deploy.deb import archive_debs
        from lab.observe.packages import from_control

        found = {}
        for installer, _ in self.batches:
            if installer.format != "deb":
                continue
            if installer.downloaded_on_target:
                return None
            for data in archive_debs(installer.dependency_archive):
                if (pkg := from_control(data)) is not None:
                    found[pkg.name] = pkg
        return found

    def prefixes(self) -> list[str]:
        return [s.artifact.prefix for _, s in self.steps if s.artifact.prefix]

    def elves(self):
        return [e for _, s in self.steps for e in s.contents.elves]
