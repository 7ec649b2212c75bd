"""The installer contract: say whether you accept an artifact on a target, and why not.

Example::

    ok, reason = DebInstaller().accepts(artifact, facts)   # (False, "deb installer: target uses dnf")
"""

from __future__ import annotations

import abc
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lab.deploy.contents import Contents
from lab.errors import CommandTimeout, InfrastructureError, ProductFailure
from lab.facts import Facts
from lab.provision.base import Provisioned
from lab.reasons import KILLED_FOR_MEMORY
from lab.submission.model import Artifact
from lab.transport.base import CommandResult

STAGE = "/var/tmp/lab-staging"
# What a package manager prints when the lab's mirror, not the package, is at fault.
MIRROR_TROUBLE = ("Failed to fetch", "Temporary failure resolving", "Could not resolve",
                  "Unable to fetch some archives", "Cannot download", "Curl error")


@dataclass
class Staged:
    """One artifact on its way onto one target."""

    artifact: Artifact
    local: Path
    contents: Contents
    target_path: str = ""

    @property
    def name(self) -> str:
        return Path(self.artifact.path).name


Batch = list[Staged]


class Installer(abc.ABC):
    """One package format. A batch is every artifact of the format that goes in together: a
    submission's .debs are resolved, downloaded and installed as one apt transaction, as plain
    ``apt-get install ./a.deb ./b.deb`` would (one may depend on the exact version of another);
    a tarball is a batch of one."""

    format: str
    transactional: bool = True  # False: each artifact is a batch of its own
    upgrading: bool = False     # True: installed over an earlier release (the upgrade suite sets it)

    def __init__(self) -> None:
        self.dependency_archive: bytes = b""  # what the downloader fetched, as a tar (for attribution)
        self.dependency_memo = None  # where its packages' file lists are kept between runs (the cache)
        self.downloaded_on_target = False  # a real board downloads for itself: no archive was brought over

    @abc.abstractmethod
    def accepts(self, artifact: Artifact, facts: Facts) -> tuple[bool, str]: ...

    def stage(self, p: Provisioned, staged: Staged) -> None:
        staged.target_path = f"{STAGE}/{staged.name}"
        p.transport.put_file(str(staged.local), staged.target_path)

    def fetch_dependencies(self, p: Provisioned, batch: Batch, timeout: float) -> None:  # noqa: B027
        """Download what the OS repositories must provide (see ``Provisioned.downloader``)."""

    def install_dependencies(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult | None:
        """Install what ``fetch_dependencies`` brought, in a transaction of its own before the
        product's, where the format allows it: what the OS packages' own scripts do (an
        ``/etc/inputrc`` readline's postinst writes) is then the OS's, not the product's. None: the
        dependencies go in with the product (rpm, tarballs)."""
        return None

    @abc.abstractmethod
    def install(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult: ...

    @abc.abstractmethod
    def uninstall(self, p: Provisioned, batch: Batch, timeout: float) -> CommandResult: ...

    def installed_paths(self, staged: Staged) -> list[str]:
        return [m.path for m in staged.contents.members]


def run_step(p: Provisioned, command: str, timeout: float, what: str,
             before_product: Callable[[CommandResult], bool] | None = None,
             refused: Callable[[CommandResult], bool] | None = None) -> CommandResult:
    """Run a vendor-facing step: a time-out or a non-zero exit is the product's failure, except
    while ``before_product`` says only the lab's tools had run (apt still reading its lists or
    fetching): the mirror failing, or the kernel killing the step for lack of memory under the
    target's limits (its cgroup's OOM count rose): the lab's fault. A kill the product's own code
    sent (an apt hook of an earlier release, say) raises no OOM count: still the product's.
    ``refused``: a failure it recognises (apt declining before anything ran) is returned, not
    raised: the caller has another way."""
    oom_before = _oom_kills(p) if before_product is not None else None
    try:
        result = p.transport.run(command, timeout=timeout)
    except CommandTimeout:
        raise ProductFailure(f"{what} timed out after {timeout:g} s (killed): {command}") from None
    if not result.ok:
        if refused is not None and result.exit_status <= 128 and refused(result):
            return result
        text = result.stdout + result.stderr
        if before_product is not None and before_product(result) and any(m in text for m in MIRROR_TROUBLE):
            # only while apt alone had run: a review's postinst printed "curl: (6) Could not resolve
            # host" and exited 1, and the lab blamed its mirror
            raise InfrastructureError(f"{what}: the lab's package mirror failed:\n{result.evidence()}")
        if (result.exit_status > 128 and before_product is not None and before_product(result)
                and oom_before is not None and (_oom_kills(p) or 0) > oom_before):
            raise InfrastructureError(KILLED_FOR_MEMORY.say(what=what, how=_exit_words(p, result.exit_status),
                                                            said="\n" + result.evidence()))
        raise ProductFailure(f"{what} failed ({_exit_words(p, result.exit_status)}):\n{result.evidence()}")
    return result


# The kernel's count of processes it killed for lack of memory in the target's cgroup (v2, v1).
OOM_KILLS = ("sed -n 's/^oom_kill //p' /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control "
             "2>/dev/null | head -1")


def _oom_kills(p: Provisioned) -> int | None:
    """None where there is no container's cgroup to ask (a board) or it says nothing."""
    if p.handle is None:
        return None
    out = p.transport.run(OOM_KILLS).stdout.strip()
    return int(out) if out.isdigit() else None


def _exit_words(p: Provisioned, status: int) -> str:
    """``exit 1``; a step killed by a signal, with the limits it ran under (out of memory, mostly)."""
    if status <= 128:
        return f"exit {status}"
    limits = p.target.docker.limits if p.target.docker is not None else None
    under = f"; the target's limits: memory {limits.memory}, pids {limits.pids}" if limits else ""
    return f"exit {status}, killed by signal {status - 128}{under}"


@dataclass
class Downloaded:
    result: CommandResult
    archive: bytes = b""   # the downloaded folder as a tar (empty when the target downloads itself)
    offers: str = ""       # on failure: what the target's repositories offer of each unmet package
    folders: dict[str, bytes] = field(default_factory=dict)  # the ``also`` folders brought over, as tars
    seconds: float = 0.0   # the download and the copy to the target: what a warm dependency cache saves
    on_target: bool = False  # the target downloaded for itself (a real board): nothing was brought over


def download(p: Provisioned, batch: Batch, command: str, cache: str, timeout: float,
             also: Callable[[CommandResult], tuple[str, ...]] = lambda _r: (), explain=None,
             seed: Callable[[object], None] | None = None) -> Downloaded:
    """Run ``command`` where the lab may download, then bring ``cache`` over to the target, and the
    folders ``also(result)`` names (package lists, when the command refreshed them). On failure, ``explain(dl, result)``
    may ask the repositories what they offer instead, while the downloader is still there. ``seed(dl)``
    first puts what the lab's dependency cache already has into a separate downloader."""
    started = time.monotonic()
    with p.downloader() as dl:
        if dl is not p.transport:
            for staged in batch:
                dl.put_file(str(staged.local), staged.target_path)
            if seed is not None:
                seed(dl)
        result = dl.run(command, timeout=timeout)
        if result.exit_status > 128:  # killed: nothing of the product's has run, only the lab's tools
            where = "the target" if dl is p.transport else "the lab's downloader"
            raise InfrastructureError(f"downloading the dependencies of {names(batch)} in {where} was killed "
                                      f"(signal {result.exit_status - 128}: out of memory or pids under its "
                                      f"limits?):\n{result.evidence()}")
        if not result.ok:
            return Downloaded(result, offers=explain(dl, result) if explain else "")
        archive = b""
        if dl is not p.transport:
            archive = dl.get_tar(cache)
            p.transport.put_tar(Path(cache).parent.as_posix(), archive)
            folders = {folder: dl.get_tar(folder) for folder in also(result)}
            for folder, data in folders.items():
                p.transport.put_tar(Path(folder).parent.as_posix(), data)
            return Downloaded(result, archive, folders=folders, seconds=time.monotonic() - started)
    return Downloaded(result, archive, on_target=True)


def q(value: str) -> str:
    return shlex.quote(value)


def paths(batch: Batch) -> str:
    return " ".join(q(s.target_path) for s in batch)


def names(batch: Batch) -> str:
    return ", ".join(s.name for s in batch)
