"""The submission manifest, as CONTRACT.md section 1 fixes it. Field names are public: never rename.

Example (the smallest valid one)::

    schema = 1
    [product]
    name = "acme-hello"
    version = "1.2.0"
    vendor = "ACME Software Co., Ltd."
    [[artifacts]]
    path = "acme-hello_1.2.0_amd64.deb"
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from lab.inventory.model import Strict
from lab.lookalike import look_alike
from lab.wording import N_, Wording

# Every string a vendor writes is bounded: a 100,000-character name is an attack, not a product.
SHORT = 128      # names, versions, users
LINE = 400       # vendor, summary, homepage, contact
COMMAND = 4096   # commands and paths
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_SECONDS = 86400  # no submission limit beyond a day, whatever the lab's own maxima

FORMATS = {".deb": "deb", ".rpm": "rpm", ".tar": "tar", ".tar.gz": "tar", ".tgz": "tar",
           ".tar.xz": "tar", ".tar.bz2": "tar"}


# What a vendor most often gets wrong, said in English here (``lab validate``, the API) and in the
# page's language on the portal (lab.wording).
RELATIVE = Wording(N_("must be a relative path inside the submission"))
NO_NUL = Wording(N_("must not contain NUL"))
PRINTABLE = Wording(N_("must be printable text without control characters"))
PRODUCT_NAME = re.compile(r"[a-z0-9][a-z0-9.+_-]*")  # [product] name: a file name, a URL, a package's
NAME_SHAPE = Wording(N_("must match [a-z0-9][a-z0-9.+_-]*"))
ONE_LINE = Wording(N_("must be one line of printable text"))
SHA256 = Wording(N_("must be 64 hexadecimal digits"))
NO_FORMAT = Wording(N_("format: cannot infer from %(path)s; give deb, rpm or tar"))
TAR_PREFIX = Wording(N_("prefix: an absolute path is required for format = 'tar'"))
ONLY_TAR = Wording(N_("%(field)s: only for format = 'tar'"))
NOT_PORTS = Wording(N_("not TCP ports: %(ports)s"))
ABOVE_MAX = Wording(N_("%(asked)s s is above this lab's maximum of %(most)s s (%(setting)s)"))
DESKTOP_ENTRY = Wording(N_("must be a desktop file name like acme-notes.desktop"))
LOCALE_SHAPE = Wording(N_("must look like zh_CN.UTF-8: %(given)s"))


def _relative_inside(value: str) -> str:
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or not value:
        raise ValueError(RELATIVE)
    return value


def _command(v: str | None) -> str | None:
    """A NUL cannot reach ``sh -c`` whole: the shell would run a different, cut command."""
    if v is not None and "\0" in v:
        raise ValueError(NO_NUL)
    return v


def _plain(v: str | None) -> str | None:
    """Paths and names are shown in terminals and pages: no control characters (an escape
    sequence, a bidi override) and nothing a terminal would read as a command."""
    if v is not None and any(not c.isprintable() for c in v):
        raise ValueError(PRINTABLE)
    return v


class Product(Strict):
    name: str = Field(max_length=SHORT)
    version: str = Field(min_length=1, max_length=SHORT)
    vendor: str = Field(min_length=1, max_length=LINE)
    summary: str = Field("", max_length=LINE)
    homepage: str = Field("", max_length=LINE)
    contact: str = Field("", max_length=LINE)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PRODUCT_NAME.fullmatch(v):
            raise ValueError(NAME_SHAPE)
        return v

    @field_validator("version", "vendor", "summary", "homepage", "contact")
    @classmethod
    def _printable(cls, v: str) -> str:
        if any(not c.isprintable() for c in v):
            raise ValueError(ONE_LINE)
        return v

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, v: str) -> str:
        """Owns products and is shown to buyers: a name that draws like another vendor's (a trailing
        or doubled space a page collapses, an invisible filler, a Cyrillic letter in a Latin word) is refused."""
        problem = look_alike(v)
        if problem:
            raise ValueError(problem)
        return v


class Artifact(Strict):
    path: str = Field(max_length=COMMAND)
    format: Literal["deb", "rpm", "tar"] | None = None
    sha256: str | None = None
    arch: str | None = Field(None, max_length=SHORT)
    prefix: str | None = Field(None, max_length=COMMAND)
    install: str | None = Field(None, max_length=COMMAND)
    uninstall: str | None = Field(None, max_length=COMMAND)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        """The file's name is shown in reports, certificates and the buyers' pages: a bidi override
        in it (``acme_\u202e0.9.0_all.deb`` read as ``acme_bed.lla_0.9.0``) would misname what is certified."""
        return _plain(_relative_inside(v))

    @field_validator("prefix", "arch")
    @classmethod
    def _plain_text(cls, v: str | None) -> str | None:
        return _plain(v)

    @field_validator("install", "uninstall")
    @classmethod
    def _commands(cls, v: str | None) -> str | None:
        return _command(v)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError(SHA256)
        return v.lower() if v else v

    @model_validator(mode="after")
    def _format(self) -> Artifact:
        if self.format is None:
            name = self.path.lower()
            fmt = next((f for suffix, f in sorted(FORMATS.items(), key=lambda x: -len(x[0]))
                        if name.endswith(suffix)), None)
            if fmt is None:
                raise ValueError(NO_FORMAT.say(path=repr(self.path)))
            object.__setattr__(self, "format", fmt)
        if self.format == "tar":
            if not self.prefix or not self.prefix.startswith("/"):
                raise ValueError(TAR_PREFIX)
        else:
            for field in ("prefix", "install", "uninstall"):
                if getattr(self, field):
                    raise ValueError(ONLY_TAR.say(field=field))
        return self


class Service(Strict):
    command: str = Field(min_length=1, max_length=COMMAND)
    user: str = Field("root", pattern=r"^[a-z_][a-z0-9_-]*$", max_length=32)
    ports: list[StrictInt] = Field(default_factory=list, max_length=64)
    health: str | None = Field(None, max_length=COMMAND)
    ready_timeout: float = Field(30, gt=0, le=3600, allow_inf_nan=False)
    env: dict[str, str] = Field(default_factory=dict, max_length=64)

    @field_validator("command", "health")
    @classmethod
    def _commands(cls, v: str | None) -> str | None:
        return _command(v)

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not ENV_KEY.fullmatch(k) or len(k) > SHORT]
        if bad:
            raise ValueError(f"keys must match [A-Za-z_][A-Za-z0-9_]*: {', '.join(repr(k[:40]) for k in bad)}")
        long = [k for k, val in v.items() if len(val) > COMMAND or "\0" in val]
        if long:
            raise ValueError(f"values must be at most {COMMAND} characters, without NUL: {', '.join(long)}")
        return v

    @field_validator("ports")
    @classmethod
    def _ports(cls, v: list[int]) -> list[int]:
        bad = [p for p in v if not 0 < p < 65536]
        if bad:
            raise ValueError(NOT_PORTS.say(ports=bad))
        return v


class Database(Strict):
    engines: list[Literal["postgresql", "mysql"]] = Field(min_length=1)
    schema_: str | None = Field(None, alias="schema", max_length=COMMAND)
    checks: str | None = Field(None, max_length=COMMAND)

    @field_validator("schema_", "checks")
    @classmethod
    def _inside(cls, v: str | None) -> str | None:
        """Files of the submission: a path out of it would have the lab read (and quote, in the
        check's message) a file of the controller's."""
        return None if v is None else _relative_inside(v)


class Claims(Strict):
    targets: list[str] = Field(default_factory=list, max_length=256)
    tags: list[str] = Field(default_factory=list, max_length=32)

    @field_validator("targets", "tags")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if len(n) > SHORT or not n.isprintable()]
        if bad:
            raise ValueError(f"names must be at most {SHORT} printable characters")
        return v


class Tests(Strict):
    paths: list[str] = Field(default_factory=lambda: ["tests"], max_length=32)

    @field_validator("paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        return [_relative_inside(p) for p in v]


class Limits(Strict):
    """Seconds. Finite, and never above the lab's ``max_`` limits (checked against the inventory)."""

    install_timeout: float | None = Field(None, gt=0, le=MAX_SECONDS, allow_inf_nan=False)
    command_timeout: float | None = Field(None, gt=0, le=MAX_SECONDS, allow_inf_nan=False)

    def problems(self, lab_limits) -> list[str]:
        """``limits.X: N is above the lab's maximum M`` for each limit beyond ``lab_limits``."""
        out = []
        for name in ("install_timeout", "command_timeout"):
            asked, most = getattr(self, name), getattr(lab_limits, f"max_{name}")
            if asked is not None and asked > most:
                out.append(f"limits.{name}: " + ABOVE_MAX.say(asked=f"{asked:g}", most=f"{most:g}",
                                                              setting=f"[lab.limits] max_{name}"))
        return out


class Upgrade(Strict):
    """The release customers upgrade from (section 6): installed first, then upgraded in place."""

    from_: list[Artifact] = Field(alias="from", min_length=1, max_length=64)
    keep: list[str] = Field(default_factory=list, max_length=64)

    @field_validator("keep")
    @classmethod
    def _keep(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if not p.startswith("/") or ".." in PurePosixPath(p).parts
               or len(p) > COMMAND or "\0" in p or PurePosixPath(p) == PurePosixPath("/")]
        if bad:
            raise ValueError(f"must be absolute paths below / without '..': {', '.join(repr(p[:80]) for p in bad)}")
        return v


class Stability(Strict):
    """Watch the service for longer (seconds; the lab's ``[lab.stability] duration`` when omitted)."""

    duration: float | None = Field(None, gt=0, le=MAX_SECONDS, allow_inf_nan=False)
    load: str | None = Field(None, min_length=1, max_length=COMMAND)

    @field_validator("load")
    @classmethod
    def _load(cls, v: str | None) -> str | None:
        return _command(v)

    def problems(self, lab_stability) -> list[str]:
        """A duration outside ``[lab.stability]``: above its maximum, or below the lab's own watch —
        a submission may watch its service for longer, never for less than the lab certifies with."""
        if self.duration is not None and self.duration > lab_stability.max_duration:
            return [f"stability.duration: {self.duration:g} s is above this lab's maximum of "
                    f"{lab_stability.max_duration:g} s ([lab.stability] max_duration)"]
        if self.duration is not None and self.duration < lab_stability.duration:
            return [f"stability.duration: {self.duration:g} s is below this lab's watch of "
                    f"{lab_stability.duration:g} s ([lab.stability] duration); a submission may only ask for longer"]
        return []


class Desktop(Strict):
    """A graphical application (section 7)."""

    entry: str = Field(max_length=SHORT)
    window_timeout: float = Field(30, gt=0, le=600, allow_inf_nan=False)
    expect_text: list[str] = Field(default_factory=list, max_length=16)
    locales: list[str] = Field(default_factory=lambda: ["zh_CN.UTF-8", "en_US.UTF-8"], min_length=1, max_length=8)

    @field_validator("entry")
    @classmethod
    def _entry(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.desktop", v):
            raise ValueError(DESKTOP_ENTRY)
        return v

    @field_validator("expect_text")
    @classmethod
    def _texts(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not t or len(t) > SHORT or not t.isprintable()]
        if bad:
            raise ValueError(f"each must be 1 to {SHORT} printable characters")
        return v

    @field_validator("locales")
    @classmethod
    def _locales(cls, v: list[str]) -> list[str]:
        bad = [loc for loc in v if not re.fullmatch(r"[a-z]{2,3}_[A-Z]{2}\.UTF-8", loc)]
        if bad:
            raise ValueError(LOCALE_SHAPE.say(given=", ".join(repr(b[:40]) for b in bad)))
        return v


def watch_seconds(stability: Stability | None, lab_stability) -> float:
    """How long the stability watch lasts: the submission's duration, else the lab's; never below
    the lab's nor above its maximum (both refused at validation too)."""
    asked = stability.duration if stability is not None and stability.duration else 0
    return min(max(asked, lab_stability.duration), lab_stability.max_duration)


SERVICE_RESTARTS = 3  # service.restart's kill -9 and restarts (suites/test_service.py)
# How often a target may wait out ``[service] ready_timeout``: the first start, service.restart's
# restarts, and with ``[upgrade]`` the earlier release and the upgraded one; stability.kill_restart
# adds ``[lab.stability] kills``.
READY_WAITS = 1 + SERVICE_RESTARTS
READY_WAITS_UPGRADE = 2
# How many steps ``install_timeout`` bounds in a target: the dependencies' download, the install,
# the second install, the vendor's tests, the purge; with ``[upgrade]`` the earlier release's
# download and install, the upgrade's download and install, and the vendor's tests again.
INSTALL_STEPS = 5
INSTALL_STEPS_UPGRADE = 5


class Submission(Strict):
    schema_: Literal[1] = Field(alias="schema")
    product: Product
    artifacts: list[Artifact] = Field(min_length=1)
    service: Service | None = None
    database: Database | None = None
    claims: Claims = Claims()
    tests: Tests | None = None
    limits: Limits = Limits()
    upgrade: Upgrade | None = None
    stability: Stability | None = None
    desktop: Desktop | None = None

    def install_timeout(self, lab_limits) -> float:
        """Each install step's bound: the submission's where it sets one, never past the lab's most."""
        return min(self.limits.install_timeout or lab_limits.install_timeout, lab_limits.max_install_timeout)

    def budget_problems(self, lab_limits, lab_stability) -> list[str]:
        """The longest the submission's settings can make a target take must fit in the lab's
        ``worker_timeout``: past it the lab stops the target, and whatever the product did after
        would be called the lab's fault. Its watch and every wait for its service to be ready must
        fit in half of it; those, with each step bounded by ``install_timeout`` (downloads,
        installs, the second install, the purge, the vendor's tests; more with ``[upgrade]``), in
        all of it. Settings the submission left to the lab are said as the lab's."""
        wall = lab_limits.worker_timeout
        install = self.install_timeout(lab_limits)
        steps = INSTALL_STEPS + (INSTALL_STEPS_UPGRADE if self.upgrade else 0)
        watch, waits, ready = 0.0, 0, 0.0
        if self.service is not None:
            watch = watch_seconds(self.stability, lab_stability)
            waits = READY_WAITS + lab_stability.kills + (READY_WAITS_UPGRADE if self.upgrade else 0)
            ready = self.service.ready_timeout
        asked = [name for name, given in (
            ("stability.duration", self.stability is not None and self.stability.duration is not None
             and self.service is not None),
            ("service.ready_timeout", self.service is not None and "ready_timeout" in self.service.model_fields_set),
            ("limits.install_timeout", self.limits.install_timeout is not None)) if given]
        fields = ", ".join(asked) if asked else "this lab's own settings"
        shorter = "a shorter watch, ready_timeout or install_timeout" if self.service else "a shorter install_timeout"
        fix = (f"ask for {shorter}" if asked else
               "a lab engineer must raise [lab.limits] worker_timeout or lower the lab's defaults")
        if watch + waits * ready > wall / 2:
            return [f"{fields}: a {watch:g} s watch and {waits} waits of up to {ready:g} s for the service to be "
                    f"ready ({watch + waits * ready:g} s) are more than half this lab's wall clock for a target, "
                    f"{wall:g} s ([lab.limits] worker_timeout); {fix}"]
        worst = watch + waits * ready + steps * install
        if worst > wall:
            beside = ", with the watch and the waits for the service," if self.service else ""
            return [f"{fields}: {steps} steps of up to {install:g} s each (install_timeout: downloads, installs, "
                    f"the purge, the vendor's tests){beside} come to {worst:g} s, more than this lab's wall clock "
                    f"for a target, {wall:g} s ([lab.limits] worker_timeout); {fix}"]
        return []
