"""Upgrading in place: the earlier release's deployment, what must survive it, and whether it did.

The upgrade suite installs ``[upgrade] from`` with the same installers as ``[[artifacts]]``, lets
the earlier release write its data, then installs the submitted artifacts over it in one
transaction (``Installer.upgrading``: a .deb batch keeps an administrator's conffiles, as an
unattended upgrade does). Here: planning the earlier deployment, a checksum of every file under
the ``keep`` paths before and after, and the administrator's change to one configuration file.

Example::

    before = checksums(transport, ["/var/lib/acme"])
    ...upgrade...
    missing, changed = compare(before, checksums(transport, ["/var/lib/acme"]))
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass

from lab.deploy.deployment import Deployment
from lab.errors import CommandTimeout, InfrastructureError, ProductFailure
from lab.provision.base import Provisioned
from lab.submission.load import LoadedSubmission
from lab.transport.base import Transport

MAX_FILES = 5000  # under the keep paths; a vendor's data folder of more is judged on its first files
SUM_TIMEOUT = 600.0  # summing them: the keep paths are the vendor's choice (a huge or endless file is its own)
ENTRY_MAX = 64 + 2 + 4096 + 1  # one "<sha256>  <path>\0": Linux's longest path
q = shlex.quote


def earlier(target: Provisioned, submission: LoadedSubmission, install_timeout: float) -> Deployment:
    """The earlier release as a deployment of its own, planned like the submitted one."""
    d = Deployment(target, submission, install_timeout, artifacts=list(submission.model.upgrade.from_))
    d.plan()
    return d


def upgrade_of(target: Provisioned, submission: LoadedSubmission, install_timeout: float) -> Deployment:
    """The submitted artifacts, planned afresh and marked as going over an installed release."""
    d = Deployment(target, submission, install_timeout)
    d.plan()
    for installer, _batch in d.batches:
        installer.upgrading = True
    return d


@dataclass
class Checksums:
    files: dict[str, str]   # path -> sha256
    absent: list[str]       # keep paths that did not exist
    capped: bool            # a keep path held more than its share of MAX_FILES: only its first were summed


def checksums(transport: Transport, keep: list[str], timeout: float = SUM_TIMEOUT) -> Checksums:
    """sha256 of every regular file under ``keep``, read on the target (NUL-separated: a file name
    is the vendor's and may hold anything but NUL).

    Bounded, and the product's fault past the bounds: at most ``MAX_FILES`` files, within
    ``timeout`` (a keep path holding a terabyte-sized sparse file or ``/proc`` is the vendor's
    declaration: ``ProductFailure``, not a hang or a *broken*). The transport's output cap is
    raised for this one command to what ``MAX_FILES`` entries can take, so long paths are never
    cut out of the middle of the list (which would read as files lost by the upgrade)."""
    cap = max(1, MAX_FILES // max(1, len(keep)))
    script = "; ".join(f"if [ -e {q(p)} ]; then find {q(p)} -xdev -type f -print0 | head -z -n {cap} | "
                       f"xargs -0r sha256sum -z --; else printf 'ABSENT %s\\0' {q(p)}; fi" for p in keep)
    output_cap = transport.output_max_bytes
    transport.output_max_bytes = max(output_cap, (MAX_FILES + len(keep)) * ENTRY_MAX)
    try:
        out = transport.run(script + "; true", timeout=timeout)
    except CommandTimeout:
        raise ProductFailure(f"summing the files under [upgrade] keep ({', '.join(keep)}) took longer than "
                             f"{timeout:g} s: keep should name the folders of the product's own data, not "
                             "system folders or files of unbounded size") from None
    finally:
        transport.output_max_bytes = output_cap
    files, absent = {}, []
    for entry in out.stdout_bytes.split(b"\0"):
        text = entry.decode("utf-8", "replace")  # for reading and comparing, never for a path given back
        if text.startswith("ABSENT "):
            absent.append(text[7:])
        elif len(text) > 66 and text[64:66] == "  ":
            files[text[66:]] = text[:64]
    capped = any(sum(f == p or f.startswith(p.rstrip("/") + "/") for f in files) >= cap for p in keep)
    return Checksums(files, absent, capped)


def compare(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(missing, changed): files of ``before`` gone after, and those whose bytes differ."""
    missing = sorted(p for p in before if p not in after)
    changed = sorted(p for p in before if p in after and after[p] != before[p])
    return missing, changed


def first_conffile(transport: Transport, d: Deployment) -> str | None:
    """The first configuration file the earlier release's packages declare: dpkg's conffiles of a
    .deb, rpm's %config files; tarballs have none the package manager knows."""
    fmt = {s.artifact.format for _, s in d.steps}
    if "deb" in fmt:
        pkgs = " ".join(q(s.contents.package) for _, s in d.steps if s.contents.package)
        out = transport.run(f"dpkg-query -W -f='${{Conffiles}}\\n' {pkgs} 2>/dev/null").stdout
        paths = [line.split()[0] for line in out.splitlines() if line.strip().startswith("/")
                 and "obsolete" not in line.split()[2:]]
    elif "rpm" in fmt:
        pkgs = " ".join(f"\"$(rpm -qp --qf %{{NAME}} {q(s.target_path)})\"" for _, s in d.steps)
        paths = [p for p in transport.run(f"rpm -qc {pkgs} 2>/dev/null").stdout.splitlines() if p.startswith("/")]
    else:
        return None
    found = transport.run("for f in " + " ".join(q(p) for p in paths[:64]) + "; do [ -f \"$f\" ] && "
                          "echo \"$f\" && break; done; true").stdout.strip() if paths else ""
    return found or None


def administer(transport: Transport, path: str) -> str:
    """Change ``path`` as an administrator would (a comment line appended); the line, to look for."""
    line = f"# changed by the administrator before the upgrade ({secrets.token_hex(6)})"
    r = transport.run(f"printf '\\n%s\\n' {q(line)} >> {q(path)}")
    if not r.ok:
        what = transport.run(f"ls -ld {q(path)} && readlink -f {q(path)}")
        if not what.ok:  # found a moment ago (first_conffile): the lab lost track of it
            raise InfrastructureError(f"the lab could not change {path} as an administrator before the upgrade: "
                                      f"{r.evidence(500)}")
        # it is there, and root could not append a line: the earlier release made its conffile so
        what = what.stdout.strip()
        raise ProductFailure(f"{path}, a configuration file of the earlier release, cannot be edited by an "
                             f"administrator (root could not append a line to it): {r.evidence(500)}\n{what}")
    return line


def config_kept(transport: Transport, path: str, line: str, fmt: str) -> tuple[bool, str]:
    """Whether the administrator's change survived: still in ``path``; for rpm, the package's new
    version set beside it as ``.rpmnew`` also counts (rpm's ``%config(noreplace)``)."""
    r = transport.run(f"grep -qxF -- {q(line)} {q(path)} && echo KEPT; "
                      f"ls -1d {q(path)}.dpkg-dist {q(path)}.dpkg-new {q(path)}.rpmnew {q(path)}.rpmsave "
                      "2>/dev/null; true")
    lines = r.stdout.split()
    beside = [x for x in lines if x != "KEPT"]
    if "KEPT" in lines:
        return True, (f"{path} keeps the administrator's change" + (f"; the package's version is beside it: "
                                                                    f"{', '.join(beside)}" if beside else ""))
    if fmt == "rpm" and f"{path}.rpmnew" in beside:
        return True, f"{path}: the package's new version was set beside it as {path}.rpmnew"
    return False, (f"{path}: the administrator's change was overwritten by the upgrade"
                   + (f" (beside it: {', '.join(beside)})" if beside else ""))
