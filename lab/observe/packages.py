"""The packages a target's package manager says are installed, at one moment.

The SBOM lists what an install actually resolved: the difference between the package database
before and after it (``dpkg-query`` or ``rpm -q``, one command each). Read through the target's
own tools, so a maintainer script could lie about its own package; the product's packages are
named from the artifacts the lab read itself, and the OS packages' versions are what apt or dnf
installed from the target's repositories.

Example::

    before = snapshot(transport, "apt")
    ...install...
    new = added(before, snapshot(transport, "apt"))   # {"libcurl4": Installed(...), ...}
"""

from __future__ import annotations

from dataclasses import dataclass

DPKG = ("dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t"
        "${source:Package}\\t${source:Version}\\n' 2>/dev/null")
RPM = "rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\n' 2>/dev/null"


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    arch: str
    format: str               # deb | rpm
    source: str = ""          # the source package (Debian's security records name it)
    source_version: str = ""
    licence: str = ""         # rpm's License tag


def parse_dpkg(out: str) -> dict[str, Installed]:
    found = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) != 6 or not cols[0].startswith("ii"):  # only what is fully installed
            continue
        _, name, version, arch, source, source_version = cols
        key = name if arch in ("all", "") else f"{name}:{arch}"
        found[key] = Installed(name, version, arch, "deb", source or name, source_version or version)
    return found


def parse_rpm(out: str) -> dict[str, Installed]:
    found = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) != 5:
            continue
        name, version, arch, srpm, licence = cols
        version = version[2:] if version.startswith("0:") else version
        source = srpm.rsplit("-", 2)[0] if srpm and srpm != "(none)" else name
        found[f"{name}.{arch}"] = Installed(name, version, arch, "rpm", source, "", licence)
    return found


def snapshot(transport, package_manager: str | None) -> dict[str, Installed]:
    """Every installed package by ``name[:arch]``; empty where the target has neither dpkg nor rpm."""
    if package_manager in ("apt", "dpkg"):
        return parse_dpkg(transport.run(DPKG).stdout)
    if package_manager in ("dnf", "yum", "rpm"):
        return parse_rpm(transport.run(RPM).stdout)
    return {}


def added(before: dict[str, Installed], after: dict[str, Installed]) -> dict[str, Installed]:
    """Packages new after the install, or at another version than before (an upgrade it pulled)."""
    return {k: v for k, v in after.items() if before.get(k) != v}


def from_control(deb: bytes) -> Installed | None:
    """A .deb's own name, version, architecture and source (``Source: name (version)``), read from
    its control file; None when it cannot be read."""
    import io
    import tarfile

    from debian.arfile import ArError
    from debian.debfile import DebError, DebFile

    try:
        control = DebFile(fileobj=io.BytesIO(deb)).debcontrol()
    except (ArError, DebError, tarfile.TarError, EOFError, OSError, ValueError, KeyError):
        return None
    name, version = control.get("Package", ""), control.get("Version", "")
    if not name or not version:
        return None
    source, _, rest = control.get("Source", name).partition(" ")
    return Installed(name, version, control.get("Architecture", ""), "deb", source or name,
                     rest.strip("() ") or version)
