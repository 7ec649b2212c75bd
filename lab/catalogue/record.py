"""Recording a finished run in the catalogue (again, if it was recorded before: idempotent).

A product belongs to the vendor that first recorded it. A run of the same product by another
vendor is refused (``InputError`` naming both) until a lab engineer transfers the product
(``transfer_product``, ``lab catalogue transfer``); a run id recorded for one product, version
and vendor is never taken over by another. ``check_owner`` says the same before a run starts, so
``lab run`` can refuse a hijack before any target is touched.
"""

from __future__ import annotations

import getpass
import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from lab.catalogue.models import (
    HARNESS_MAX,
    NAME_MAX,
    RUN_ID_MAX,
    TARGET_MAX,
    VENDOR_MAX,
    Artifact,
    Certificate,
    CheckRow,
    Product,
    ProductTransfer,
    ProductVersion,
    Result,
    Run,
)
from lab.certs.certificate import parse, read
from lab.errors import InfrastructureError, InputError
from lab.inventory.model import NAME as TARGET_NAME
from lab.lookalike import drawn_like
from lab.results.model import TargetResult, Verdicts
from lab.submission.model import PRODUCT_NAME
from lab.submission.model import Product as ProductManifest
from lab.supply.stored import components_of
from lab.validation import problems_of
from lab.wording import N_, Wording

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
SHA256 = re.compile(r"[0-9a-f]{64}")
# Architectures as package file names spell them: name_version_ARCH.deb, name-version.ARCH.rpm,
# or a token of a tarball's name (acme-web-1.0.0-x86_64.tar.gz).
KNOWN_ARCHES = ("x86_64", "amd64", "aarch64", "arm64", "loongarch64", "loong64", "riscv64", "mips64el",
                "mips64", "sw_64", "i386", "i686", "armhf", "ppc64el", "ppc64le", "s390x", "noarch", "all")
_DEB = re.compile(r"_([a-z0-9]+)\.deb$")
_RPM = re.compile(r"\.([a-z0-9_]+)\.rpm$")
_TOKEN = re.compile(r"(?:^|[-_.])(" + "|".join(sorted(KNOWN_ARCHES, key=len, reverse=True)) + r")(?=[-_.]|$)")


def artifact_arch(path: str, stated: str | None = None) -> str | None:
    """The architecture an artifact is built for: as the vendor stated it, else as its file name says."""
    if stated:
        return stated
    name = PurePosixPath(path).name.lower()
    for pattern in (_DEB, _RPM):
        m = pattern.search(name)
        if m and m.group(1) in KNOWN_ARCHES:
            return m.group(1)
    m = _TOKEN.search(name)
    return m.group(1) if m else None


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


NOT_OWNER = Wording(N_("%(product)s belongs to %(owner)s in this lab's catalogue, not to %(vendor)s; if it has "
                       "changed hands, a lab engineer records that first with: %(command)s"))


DRAWN_LIKE = Wording(N_("%(vendor)s draws like %(other)s, a vendor already in this lab's catalogue: a buyer "
                        "could not tell them apart on a certificate"))


def _not_owner(product: str, owner: str, vendor: str, catalogue: str | None = None) -> str:
    return "product.vendor: " + NOT_OWNER.say(product=product, owner=_quoted(owner), vendor=_quoted(vendor),
                                              command=transfer_command(product, vendor, catalogue))


def transfer_command(product: str, vendor: str, catalogue: str | None = None) -> str:
    """The command that gives ``product`` to ``vendor``, with the options the refused command had: the
    user's ``--inventory`` and ``--catalogue`` (its password hidden), so that typed as shown it acts
    on the same catalogue, never the lab's default one."""
    from lab.inventory.load import suggest

    command = f"lab catalogue transfer {shlex.quote(product)} --to {shlex.quote(vendor)}"
    if catalogue:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            shown = make_url(catalogue).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            shown = catalogue
        command += f" --catalogue {shlex.quote(shown)}"
    return suggest(command)


def check_owner(engine: Engine, product: str, vendor: str, source: str = "submission",
                catalogue: str | None = None) -> None:
    """Refuse (``InputError``) a run of ``product`` by ``vendor`` when the catalogue gives the product
    to another vendor. A product the catalogue does not know yet is anyone's: its first run claims it.

    ``lab run`` calls this before it touches a target, so a hijack attempt exits 2 having run nothing.
    """
    try:
        with Session(engine) as s:
            owner = s.scalar(select(Product.vendor).where(Product.name == product))
            vendors = s.scalars(select(Product.vendor).distinct()).all() if owner is None else []
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the catalogue cannot be read: {exc}") from None
    if owner is not None and owner != vendor:
        raise InputError(source, [_not_owner(product, owner, vendor, catalogue)])
    alike = drawn_like(vendor, vendors)  # a new product: its vendor must not pass for another one
    if alike is not None:
        raise InputError(source, ["product.vendor: " + DRAWN_LIKE.say(vendor=_quoted(vendor), other=_quoted(alike))])


def _load(run_dir: Path) -> tuple[Verdicts, str]:
    path = Path(run_dir) / "verdicts.json"
    if not path.is_file():
        raise InputError(str(run_dir), ["not a run folder: no verdicts.json"])
    try:
        return Verdicts.model_validate_json(path.read_bytes()), str(path)
    except ValidationError as exc:
        raise InputError(str(path), problems_of(exc)[:20]) from None


def _problems(v: Verdicts) -> list[str]:
    """What the catalogue will not store: the submission's own bounds, and sane ids and names."""
    sub = v.submission
    problems = []
    try:
        ProductManifest.model_validate({"name": sub.name, "version": sub.version, "vendor": sub.vendor})
    except ValidationError as exc:
        problems += [f"submission.{p}" for p in problems_of(exc)]
    if len(v.run) > RUN_ID_MAX or not RUN_ID.fullmatch(v.run):
        problems.append(f"run: must match {RUN_ID.pattern}, at most {RUN_ID_MAX} characters")
    for field in ("harness", "started", "finished"):
        if len(getattr(v, field)) > HARNESS_MAX:
            problems.append(f"{field}: at most {HARNESS_MAX} characters")
    for i, a in enumerate(sub.artifacts):
        if not SHA256.fullmatch(a.sha256):
            problems.append(f"submission.artifacts[{i}].sha256: must be 64 lowercase hexadecimal digits")
    problems += [f"targets.{name[:60]}: a target name must match {TARGET_NAME.pattern}, at most {TARGET_MAX}"
                 for name in v.targets if len(name) > TARGET_MAX or not TARGET_NAME.match(name)]
    return problems


def _certificates(run_dir: Path, v: Verdicts, issued: dict[str, dict] | None = None) -> dict[str, dict]:
    """Each target's certificate, checked for shape and for belonging to this very run: from
    ``issued`` (just signed by this process) or, for targets of an earlier attempt, the folder."""
    found = {}
    for name in v.targets:
        path = Path(run_dir) / "certificates" / f"{name}.json"
        if issued and name in issued:
            doc = parse(issued[name], str(path))
        elif path.exists():
            doc = parse(read(path), str(path))
        else:
            continue
        c = doc.certificate
        mine = (c.id == f"{v.run}/{name}" and c.product.name == v.submission.name
                and c.product.version == v.submission.version and c.vendor == v.submission.vendor
                and c.target.name == name)
        if not mine:
            raise InputError(str(path), [f"certificate.id: {c.id} is not the certificate of {v.run} on {name} "
                                         f"for {v.submission.name} {v.submission.version}"])
        found[name] = doc.raw
    return found


def _refuse_foreign_run(s: Session, v: Verdicts, source: str) -> None:
    old = s.get(Run, v.run)
    if old is None:
        return
    sub = v.submission
    was = (old.version.product.name, old.version.version, old.vendor or old.version.product.vendor)
    if was != (sub.name, sub.version, sub.vendor):
        raise InputError(source, [f"run: {v.run} is already recorded for {was[0]} {was[1]} by {_quoted(was[2])}; "
                                  f"a run id is not reused for {sub.name} {sub.version} by {_quoted(sub.vendor)}"])


def _record(s: Session, v: Verdicts, run_dir: Path, certs: dict[str, dict], source: str,
            life: dict | None = None) -> None:
    sub = v.submission
    _refuse_foreign_run(s, v, source)
    product = s.scalar(select(Product).where(Product.name == sub.name))
    if product is None:
        product = Product(name=sub.name, vendor=sub.vendor)
        s.add(product)
    elif product.vendor != sub.vendor:
        raise InputError(source, [_not_owner(sub.name, product.vendor, sub.vendor)])
    version = s.scalar(select(ProductVersion).where(ProductVersion.product == product,
                                                    ProductVersion.version == sub.version))
    if version is None:
        version = ProductVersion(product=product, version=sub.version)
        s.add(version)
    old = s.get(Run, v.run)
    life = {k: val for k, val in (life or {}).items() if val is not None}
    kept: dict[str, str | None] = {}  # target -> when its result, recorded before as it is now, was made
    if old is not None:  # recorded again (lab catalogue record, a rerun): what only the first recording knew stays
        for key in ("archive", "recertifies", "recertify_reason"):
            life.setdefault(key, getattr(old, key))
        kept = {r.target: r.made[0] for r in old.results if _same_result(r, v.targets.get(r.target), certs)}
        s.delete(old)
        s.flush()
    run = Run(id=v.run, version=version, started=v.started, finished=v.finished, harness=v.harness,
              interrupted=v.interrupted, folder=str(Path(run_dir).resolve()), vendor=sub.vendor,
              artifacts=[Artifact(path=a.path, sha256=a.sha256, arch=artifact_arch(a.path, a.arch))
                         for a in sub.artifacts], **life)
    s.add(run)
    for name, r in v.targets.items():
        result = Result(run=run, target=name, verdict=r.verdict, reason=r.reason, facts=r.facts,
                        metrics=r.metrics, finished=kept.get(name) or v.finished,
                        checks=[CheckRow(check_id=c.id, outcome=c.outcome, required=c.required,
                                         message=c.message, duration_s=c.duration_s,
                                         waiver=c.waiver.model_dump() if c.waiver else None) for c in r.checks])
        doc = certs.get(name)
        if doc is not None:
            c = doc["certificate"]
            result.certificate = Certificate(id=c["id"], key_id=doc["signature"]["key_id"], issued=c["issued"],
                                             expires=c["expires"], document=doc, **_issued_on(c))
        result.components = components_of(run_dir, name)  # from its SBOM: later imports flag it
        s.add(result)


def _same_result(old: Result, new: TargetResult | None, certs: dict[str, dict]) -> bool:
    """Whether ``new`` is the result ``old`` recorded, not made again: the same verdict, checks and
    certificate (a rerun of a run's broken targets carries the others' over as they were)."""
    if new is None or old.verdict != new.verdict or old.reason != new.reason:
        return False
    cert = certs.get(old.target)
    if (old.certificate.id if old.certificate else None) != (cert["certificate"]["id"] if cert else None):
        return False
    return [(c.check_id, c.outcome, c.message) for c in old.checks] == [(c.id, c.outcome, c.message)
                                                                         for c in new.checks]


def _issued_on(content: dict) -> dict:
    """What a certificate says it was issued on, as columns ``lab recertify`` compares."""
    basis = content.get("issued_on") if isinstance(content.get("issued_on"), dict) else None
    recipe = basis.get("recipe_sha256") if basis else None
    suites = content.get("suites_version")
    return {"basis": basis, "recipe_sha256": recipe if isinstance(recipe, str) and SHA256.fullmatch(recipe) else None,
            "suites_version": suites if isinstance(suites, str) and SHA256.fullmatch(suites) else None}


def record_run(engine: Engine, run_dir: Path, verdicts: Verdicts | None = None,
               certificates: dict[str, dict] | None = None, *, archive: Path | None = None,
               recertifies: str | None = None, recertify_reason: str | None = None,
               archives: Path | None = None) -> str:
    """Record the run in ``run_dir``; ``InputError`` when its vendor does not own the product, when
    its run id belongs to another product, version or vendor, or when the folder is malformed.

    ``lab run`` hands over its verdicts and the certificates it just signed, from memory;
    ``lab catalogue record DIR`` reads them from the folder."""
    if verdicts is None:
        v, source = _load(run_dir)
    else:
        v, source = verdicts, str(Path(run_dir) / "verdicts.json")
    problems = _problems(v)
    if problems:
        raise InputError(source, problems)
    certs = _certificates(run_dir, v, certificates)
    life = {"recertifies": recertifies, "recertify_reason": recertify_reason}
    if archive is not None:  # kept so the lab can run it again (lab recertify)
        from lab.catalogue.archives import archives_dir, keep

        try:
            life["archive"] = keep(archive, archives or archives_dir(engine))
        except OSError as exc:
            raise InfrastructureError(f"the submission's archive could not be kept: {exc}") from None
    try:
        _in_one_transaction(engine, v, run_dir, certs, source, life)
    except IntegrityError:  # another recording created the same product meanwhile: judge again
        try:
            _in_one_transaction(engine, v, run_dir, certs, source, life)
        except IntegrityError as exc:
            raise InfrastructureError(f"the catalogue refused run {v.run}: {exc.orig}") from None
    return v.run


def _in_one_transaction(engine: Engine, v: Verdicts, run_dir: Path, certs: dict[str, dict], source: str,
                        life: dict | None = None) -> None:
    with Session(engine) as s, s.begin():
        _record(s, v, run_dir, certs, source, life)


def _vendor_problems(vendor: str) -> list[str]:
    if not vendor or len(vendor) > VENDOR_MAX or not vendor.isprintable():
        return [f"--to: a vendor is 1 to {VENDOR_MAX} characters of printable text on one line"]
    return []


def _name_problems(product: str) -> list[str]:
    """A product name as a manifest must give it (``[product] name``)."""
    if len(product) > NAME_MAX or not PRODUCT_NAME.fullmatch(product):
        return [f"PRODUCT: a product name is {PRODUCT_NAME.pattern}, at most {NAME_MAX} characters"]
    return []


def transfer_product(engine: Engine, product: str, to_vendor: str, by: str | None = None,
                     now: datetime | None = None, new: bool = False) -> ProductTransfer:
    """Give ``product`` to ``to_vendor`` (a lab engineer's decision) and record who from, who to, when,
    and by whom. Its later runs must come from ``to_vendor``; the earlier ones stay as they were.
    With ``new``, a name the catalogue does not know yet is given all the same (recorded "from"
    nobody): the centre holds a name for its first uploader until then, and a squatter's upload
    must not keep it from its vendor (found by a hostile review); without, such a name is refused
    (a misspelt one would otherwise be given away)."""
    problems = _vendor_problems(to_vendor)
    if problems:
        raise InputError(product, problems)
    if by is None:
        try:
            by = getpass.getuser()
        except (KeyError, OSError):
            by = ""
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = s.scalar(select(Product).where(Product.name == product))
        if row is None and not new:
            raise InputError(product, ["no such product in the catalogue (a product is recorded by its first run; "
                                       "to give a name not recorded yet, such as one another organisation's upload "
                                       "holds in the centre, add --new)"])
        if row is None:
            problems = _name_problems(product)
            if problems:
                raise InputError(product, problems)
            row = Product(name=product, vendor="")
            s.add(row)
        if row.vendor == to_vendor:
            raise InputError(product, [f"--to: it already belongs to {_quoted(to_vendor)}"])
        transfer = ProductTransfer(product=row, from_vendor=row.vendor, to_vendor=to_vendor, at=at, by=by[:200])
        row.vendor = to_vendor
        s.add(transfer)
    return transfer
