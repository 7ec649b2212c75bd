"""What one install is made of, gathered once per target for the three supply checks.

Packages: the target's package database before and after the install (``Deployment``
captures both), so the SBOM lists what the target actually resolved, at the exact versions.
The product's own packages are named by the artifacts the lab read itself. Licences: a product
``.deb``'s ``copyright`` file is read from the artifact (not from the target); a dependency's from
``/usr/share/doc/PKG/copyright`` on the target, through the lab's observer. File hashes: one
bounded ``sha256sum`` per 200 installed files, on the target.

Example::

    supply = collect(lab, target, deployment)
    supply.components, supply.files, supply.notes
"""

from __future__ import annotations

import posixpath
import shlex
import stat
from dataclasses import dataclass, field, replace

from lab.supply import bundled as bundled_mod
from lab.supply.licences import Declared, debian_copyright, licensecheck, normalise
from lab.supply.sbom import Component, bundled_purl, deb_purl, generic_purl, rpm_purl
from lab.supply.versions import normal_name

HASH_CHUNK = 200
FILES_MAX = 50_000
COPYRIGHT_MAX = 256 << 10


@dataclass
class Supply:
    components: list[Component] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    licence_files: dict[str, str] = field(default_factory=dict)   # path in a tarball -> SPDX (licensecheck)
    unread_licences: list[str] = field(default_factory=list)      # licence files not read whole, and why
    sbom_path: str = ""
    sbom_sha256: str = ""
    # the package database after the install, where it contradicts what the lab installed
    tampered: list[str] = field(default_factory=list)


def distro(facts) -> tuple[str, str]:
    """(purl distro qualifier, OSV ecosystem): ``debian-12``, ``Debian:12``."""
    major = (facts.os_version or "").split(".")[0]
    name = facts.os_id or "linux"
    eco = {"debian": "Debian", "ubuntu": "Ubuntu", "openeuler": "openEuler", "almalinux": "AlmaLinux",
           "rocky": "Rocky Linux"}.get(name, name)
    return f"{name}-{facts.os_version or major}" if name != "debian" else f"debian-{major}", \
        f"{eco}:{major}" if name in ("debian", "ubuntu") else f"{eco}:{facts.os_version}"


def _hashes(transport, paths: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for i in range(0, len(paths), HASH_CHUNK):
        chunk = paths[i:i + HASH_CHUNK]
        out = transport.run("sha256sum -- " + " ".join(shlex.quote(p) for p in chunk) + " 2>/dev/null; true").stdout
        for line in out.splitlines():
            digest, sep, path = line.partition("  ")
            if sep and len(digest) == 64:
                found[path] = digest
    return found


def _copyright(text: bytes | None, path: str, pending: dict[str, bytes]) -> list[Declared]:
    if not text:
        return []
    found = debian_copyright(text, path)
    if found is None:  # not machine-readable: licensecheck reads it with the tarballs' licence files
        pending[path] = text
        return []
    return found


def _as_fetched(pkg, fetched: dict, target: str, tampered: list[str]):
    """A dependency as the lab installed it. The package database is the target's, which the
    product's scripts can write (a review's postinst waited for apt to end and rewrote bc's version
    past a vulnerability's fix): a version the lab did not fetch, or a package it fetched none of,
    is said, and the SBOM keeps the package as the lab installed it."""
    known = fetched.get(pkg.name)
    if known is None:
        tampered.append(f"{pkg.name} {pkg.version}: in {target}'s package database after the install, but the lab "
                        "installed no such package (the product's scripts put it there or rewrote the database)")
        return pkg
    if (known.version, known.source, known.source_version) != (pkg.version, pkg.source, pkg.source_version):
        tampered.append(f"{pkg.name}: {target}'s package database says {pkg.version} (source {pkg.source} "
                        f"{pkg.source_version}); the lab installed {known.version} (source {known.source} "
                        f"{known.source_version}) from the target's repositories (the database was rewritten)")
        return replace(known, arch=pkg.arch or known.arch)
    return pkg


def _unlisted(resolved: dict, fetched: dict, mine: set[str], target: str, tampered: list[str]) -> list:
    """What the lab installed that the package database no longer lists (a review's postinst took
    a vulnerable dependency's entry out until the lab had read it): said, and kept in the SBOM."""
    listed = {pkg.name for pkg in resolved.values()}
    missing = [pkg for name, pkg in sorted(fetched.items()) if name not in listed and name not in mine]
    tampered += [f"{pkg.name} {pkg.version}: the lab installed it from {target}'s repositories, but the package "
                 "database does not list it (the database was rewritten)" for pkg in missing]
    return missing


def collect(lab, target, deployment) -> Supply:
    facts = target.facts
    qualifier, ecosystem = distro(facts)
    supply = Supply()
    limits = target.lab.limits if target.lab else None
    scans = [bundled_mod.scan(s.artifact, s.local, limits) for _, s in deployment.steps]
    found = bundled_mod.merge(scans)
    supply.notes += found.notes
    supply.unread_licences = found.unread_licences
    pending: dict[str, bytes] = dict(found.licence_files)
    mine = deployment.packages()
    from lab.observe.packages import added

    resolved = added(deployment.packages_before, deployment.packages_after)
    observer = target.observer()
    product = lab.submission.model.product
    packages = [pkg for _, pkg in sorted(resolved.items())]
    if (fetched := deployment.fetched()) is not None:  # held to what the lab installed
        name = target.target.name
        packages = [_as_fetched(pkg, fetched, name, supply.tampered) if pkg.name not in mine and pkg.format == "deb"
                    else pkg for pkg in packages] + _unlisted(resolved, fetched, mine, name, supply.tampered)
    for pkg in packages:
        role = "product" if pkg.name in mine else "dependency"
        if pkg.format == "deb":
            purl = deb_purl(pkg.name, pkg.version, pkg.arch, qualifier)
            path = f"/usr/share/doc/{pkg.name}/copyright"
            text = found.copyright.get(pkg.name) if role == "product" else observer.read(path, COPYRIGHT_MAX)
            licences = _copyright(text, path, pending)
            match_name, match_version = pkg.source or pkg.name, pkg.source_version or pkg.version
        else:
            purl = rpm_purl(pkg.name, pkg.version, pkg.arch, facts.os_id)
            spdx = normalise(pkg.licence)
            licences = [Declared(spdx, f"rpm License tag of {pkg.name}")] if spdx else []
            match_name, match_version = pkg.name, pkg.version
        supply.components.append(Component(role, pkg.name, pkg.version, purl, ecosystem, match_name, match_version,
                                           f"{facts.package_manager} database of {target.target.name}", licences,
                                           pkg.arch))
    if not mine or any(s.artifact.format == "tar" for _, s in deployment.steps):
        # a tarball is the product itself: named by the submission
        supply.components.insert(0, Component("product", product.name, product.version,
                                              generic_purl(product.name, product.version),
                                              declared_in="submission.toml"))
    for b in found.components:
        spdx = normalise(b.licence)
        supply.components.append(Component(
            "bundled", b.name, b.version, bundled_purl(b.ecosystem, b.name, b.version), b.ecosystem,
            normal_name(b.ecosystem, b.name), b.version, b.declared_in,
            [Declared(spdx, b.declared_in)] if spdx else []))
    detected = licensecheck(pending)
    for path, spdx in detected.items():
        if path in found.licence_files:
            supply.licence_files[path] = spdx
            owner = _owner_of(path, supply.components)
            owner.licences.append(Declared(spdx, path))
        else:  # a copyright file that is not DEP-5
            for c in supply.components:
                if c.role != "bundled" and path == f"/usr/share/doc/{c.name}/copyright":
                    c.licences.append(Declared(spdx, path))
    files = [m.path for _, s in deployment.steps for m in s.contents.members if stat.S_ISREG(m.mode)]
    if len(files) > FILES_MAX:
        supply.notes.append(f"{len(files)} installed files: the first {FILES_MAX} are hashed")
        files = files[:FILES_MAX]
    digests = _hashes(target.transport, files)
    supply.files = {p: digests.get(p, "") for p in files}
    missing = [p for p in files if p not in digests]
    if missing:
        supply.notes.append(f"{len(missing)} installed file(s) could not be read to hash, e.g. {missing[0]}")
    return supply


def _owner_of(path: str, components: list[Component]) -> Component:
    """The component a licence file belongs to: the bundled one whose metadata sits beside it
    (``x.dist-info/LICENSE``, ``node_modules/x/LICENSE``), else the product itself."""
    best, depth = None, -1
    for c in components:
        if c.role == "bundled" and c.declared_in:
            folder = posixpath.dirname(c.declared_in.split("!/")[0])
            if path.startswith(folder + "/") and len(folder) > depth:
                best, depth = c, len(folder)
    return best or next(c for c in components if c.role == "product")
