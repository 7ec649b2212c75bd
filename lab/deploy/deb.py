"""Debian packages through apt: dependencies come from the target's own repositories, fetched by
the lab's downloader; the install itself (maintainer scripts included) runs with no network."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from lab.arch import deb_name
from lab.deploy.base import MIRROR_TROUBLE, Batch, Installer, Staged, download, names, paths, q, run_step
from lab.errors import InfrastructureError, ProductFailure
from lab.facts import Facts
from lab.provision.base import Provisioned
from lab.reasons import CANNOT_INSTALL_ON_OS
from lab.submission.model import Artifact
from lab.transport.base import CommandResult

APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends"
# Over an earlier release, as an unattended administrator's upgrade: a conffile the administrator
# changed is kept (the package's version lands beside it as .dpkg-dist) instead of a prompt.
KEEP_CONFFILES = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
# Package lists older than a day are refreshed by the downloader (and copied to the target), so a
# target resolves against its release as it is today, not as it was when the image was built.
REFRESHED = "LAB_LISTS_REFRESHED"
REFRESH = ("{ find /var/lib/apt/lists -maxdepth 1 -name '*Release' -mmin -1440 | grep -q . "
           f"|| {{ apt-get -q update >/dev/null && echo {REFRESHED}; }}; }}")
# A container is thrown away after the run: dpkg need not fsync every file it unpacks (what Docker's
# own Debian images set), which makes an install a fifth to a third faster. A board keeps its disk.
UNSAFE_IO = " -o Dpkg::Options::=--force-unsafe-io"
LISTS = "/var/lib/apt/lists"
ARCHIVES = "/var/cache/apt/archives"
UNMET = re.compile(r"Depends: ([a-z0-9][a-z0-9.+-]*)(?::\w+)? \(")


def apt(p: Provisioned) -> str:
    return APT + (UNSAFE_IO if p.handle is not None else "")


def _offers(dl, result: CommandResult) -> str:
    """What the target's repositories have of each package an unmet dependency names:
    ``libfoo 1.6-2.1+deb12u2``, so a vendor sees the version the target offers."""
    names = sorted(set(UNMET.findall(result.stdout + result.stderr)))[:10]
    if not names:
        return ""
    out = dl.run("apt-cache madison " + " ".join(q(n) for n in names) + " 2>/dev/null; true").stdout
    have: dict[str, list[str]] = {}
    for line in out.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) >= 2 and cols[1] not in have.get(cols[0], []):
            have.setdefault(cols[0], []).append(cols[1])
    return "; ".join(f"{n} {', '.join(have[n])}" if n in have else f"no {n}" for n in names)


INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", re.M)


def _planned(simulated: str) -> list[tuple[str, str]]:
    """(name, version) of each package ``apt-get -s install`` would install or upgrade."""
    return INST.findall(simulated)


DPKG_ERROR = re.compile(r"^dpkg: error processing package (\S+) \(--(?:remove|purge)\):", re.M)


def _refused_by(result: CommandResult) -> set[str]:
    """The packages whose removal dpkg said failed (``dpkg: error processing package sudo (--remove)``)."""
    return set(DPKG_ERROR.findall(result.stdout + result.stderr))


def _archive_debs(archive: bytes):
    """The .deb files at the top of a downloaded apt cache (a tar of its folder), as tar members of
    the open archive: ``(tar, member)``."""
    import io
    import tarfile

    if not archive:
        return
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".deb") and len(PurePosixPath(m.name).parts) == 2:
                yield tar, m


def archive_debs(archive: bytes) -> list[bytes]:
    """The .deb files of a downloaded apt cache, their bytes."""
    return [tar.extractfile(m).read() for tar, m in _archive_debs(archive)]


def archive_names(archive: bytes) -> list[str]:
    """The .deb files of a downloaded apt cache (a tar of its folder), by name."""
    return sorted(PurePosixPath(m.name).name for _, m in _archive_debs(archive))


def _before_dpkg(result: CommandResult) -> bool:
    """apt had not reached dpkg (whose first step for a package runs its preinst): only apt's own
    resolving had run."""
    return "Preparing to unpack" not in result.stdout and "Unpacking " not in result.stdout


def _layer_failed(p: Provisioned, why: str):
    """A prepared layer that does not match this run's resolution: dropped, and the run broken (it
    cannot be judged on other dependencies than its own resolution; the next run installs them)."""
    from lab.cache.layers import drop

    drop(p.lab, p.layer)
    raise InfrastructureError(f"the prepared layer of {p.target.name}'s OS dependencies no longer matches ({why}): "
                              f"it has been dropped; run again")


class DebInstaller(Installer):
    format = "deb"
    layer_plan = None  # what a prepared layer would repeat (lab.cache.layers.Plan), after a plain install

    def accepts(self, artifact: Artifact, facts: Facts) -> tuple[bool, str]:
        if artifact.format != "deb":
            return False, "deb installer: artifact is not a .deb"
        if facts.package_manager not in ("apt", "dpkg"):
            return False, f"deb installer: target uses {facts.package_manager}, not dpkg"
        return True, ""

    def _check_arch(self, p: Provisioned, staged: Staged) -> None:
        arch = staged.contents.control.get("Architecture", "")
        want = deb_name(p.facts.arch)
        if arch not in ("all", want):
            raise ProductFailure(f"{staged.name} is built for {arch}; {p.target.name} is {want} "
                                 f"({p.facts.arch})")

    def fetch_dependencies(self, p: Provisioned, batch: Batch, timeout: float) -> None:
        for staged in batch:
            self._check_arch(p, staged)
        command = f"{REFRESH} && {APT} install --download-only {paths(batch)}"
        cache = self.dependency_memo = self._cache(p, batch, command)
        if cache is not None and (archive := cache.restore(LISTS)) is not None:
            self.dependency_archive = archive  # what the downloader would have brought, from the cache
            return
        seed = (lambda dl: (cache.copy_lists(dl, LISTS), cache.copy_lists(p.transport, LISTS))) if cache else None
        got = download(p, batch, command, ARCHIVES, timeout, explain=_offers, seed=seed,
                       also=lambda r: (LISTS,) if REFRESHED in r.stdout else ())  # copied only when new
        self.dependency_archive, self.downloaded_on_target = got.archive, got.on_target
        result = got.result
        if result.ok:
            if cache is not None and got.archive:
                cache.store(got.archive, got.folders.get(LISTS), seconds=got.seconds)
            return
        text = result.stdout + result.stderr
        if any(s in text for s in MIRROR_TROUBLE):
            raise InfrastructureError(f"downloading dependencies from the mirror failed:\n"
                                      f"{result.evidence()}")
        unmet = [line.strip() for line in text.splitlines()
                 if re.search(r"Depends:|Conflicts:|Breaks:|PreDepends:", line)]
        why = "\n".join(unmet) if unmet else result.evidence()
        if got.offers:
            why += f"\n{p.target.name} offers: {got.offers}"
        raise ProductFailure(CANNOT_INSTALL_ON_OS.say(names=names(batch), target=p.target.name,
                                                      os=p.facts.os_name or p.facts.os_id, said=why))

    def _cache(self, p: Provisioned, batch: Batch, command: str):
        """The lab's dependency cache for this batch (lab/cache), or None where none applies."""
        from lab.cache.deps import BatchCache

        cache = BatchCache.open(p, batch, "deb", ARCHIVES, ".deb", command.replace(paths(batch), ""))
        if cache is not None:  # are the image's lists fresh; what is installed already
            state = p.transport.run(f"find {LISTS} -maxdepth 1 -name '*Release' -mmin -1440 | grep -q . "
                                    "&& echo fresh; md5sum </var/lib/dpkg/status").stdout.split()
            # md5sum of standard input prints "HASH  -": the hash (a review: the key had been "-")
            cache.installed = next((w for w in state if len(w) == 32), "")
            if p.layer_pending:  # started from a prepared layer: resolve as in the image under it
                if cache.installed != p.layer.status_after:
                    _layer_failed(p, "its package database is not the one recorded")
                cache.installed = p.layer.status_base
            cache.use_lists("fresh" in state)
        return cache

    def install_dependencies(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult | None:
        """The downloaded OS packages, by their files (the very versions resolved for the product),
        marked as installed automatically, so the product's purge with ``--autoremove`` still takes
        them away. Not the product's own package, should the mirror have brought one of its name.

        Only what installs apart exactly as resolved: nothing downloaded (``--no-download``: an
        alternative the product itself provides, a mail-transport-agent, would have apt reach for
        exim4) and nothing removed (``--no-remove``: an earlier release in conflict). When apt
        declines, before dpkg ran, they go in with the product as one transaction, as before (a
        hostile review: an upgrade became "remove the old release, install the new one", and a
        product providing an MTA was called broken). Never over an earlier release (the upgrade
        suite's install): its scripts must meet the upgrade as one transaction."""
        if self.upgrading:
            return None
        own = {s.contents.package for s in batch if s.contents.package}
        if self.downloaded_on_target:  # a real board: what apt would install, by name and version
            planned = _planned(p.transport.run(f"{apt(p)} -s install {paths(batch)}").stdout)
            wanted = [f"{q(name)}={q(version)}" for name, version in planned if name.split(":")[0] not in own]
        else:
            wanted = [q(f"{ARCHIVES}/{f}") for f in archive_names(self.dependency_archive)
                      if f.split("_", 1)[0] not in own]
        if not wanted:
            if p.layer_pending:
                _layer_failed(p, "this run resolved no OS package to install")
            return None
        command = f"{apt(p)} --no-download --no-remove --mark-auto install {' '.join(wanted)}"
        if p.layer_pending:  # what this command would leave is there already, byte for byte
            if command != p.layer.command:
                _layer_failed(p, "this run resolved other OS packages")
            if p.say is not None:
                p.say(f"OS dependencies: {len(wanted)} package(s) already in from the prepared layer "
                      f"{p.layer.image[7:19]}, installed there by this very command when it was built")
            return None
        result = run_step(p, command, timeout, f"installing the OS packages {names(batch)} depends on "
                          f"({len(wanted)}, from {p.target.name}'s repositories)", before_product=_before_dpkg,
                          refused=_before_dpkg)
        memo = self.dependency_memo
        if result.ok and memo is not None and p.handle is not None and not self.downloaded_on_target:
            from lab.cache.layers import Plan

            self.layer_plan = Plan(command, self.dependency_archive, memo._memo_key(), memo.lists_id or "",
                                   memo.installed, memo.entry.path, PurePosixPath(ARCHIVES).parent.as_posix())
        return result if result.ok else None

    def install(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        # Offline: the dependencies are already in apt's cache. (Not --no-download: apt then
        # refuses a local .deb with "Pathname to install is not absolute".)
        keep = f" {KEEP_CONFFILES}" if self.upgrading else ""
        return run_step(p, f"{apt(p)}{keep} install {paths(batch)}", timeout,
                        f"{'upgrading to' if self.upgrading else 'installing'} {names(batch)}",
                        before_product=_before_dpkg)

    def uninstall(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult:
        """One transaction: the product and the dependencies it alone pulled in, purged together
        (``--autoremove`` with ``purge`` purges those too), as a second ``autoremove`` run would.
        When only OS packages' own scripts refused (sudo's prerm refuses without a root password:
        a hostile review's product was blamed for it), the product is purged alone; the OS
        packages then stay, shown as such by install.leftovers."""
        own = [s.contents.package or "" for s in batch]
        what = f"purging {', '.join(s.contents.package or s.name for s in batch)}"
        result = run_step(p, f"{apt(p)} --autoremove purge {' '.join(q(n) for n in own)}", timeout, what,
                          refused=lambda r: bool(others := _refused_by(r)) and not others & set(own))
        if result.ok:
            return result
        # what dpkg still knows of them (removed already, a package without conffiles is gone)
        known = f"$(dpkg-query -W -f='${{Package}} ' {' '.join(q(n) for n in own)} 2>/dev/null)"
        return run_step(p, f"{apt(p)} purge {known}", timeout, what)
