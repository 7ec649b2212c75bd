"""A vendor's upload, once received (``lab.centre.upload``): validate -> store -> plan -> enqueue.

``accept_submission`` checks it exactly like ``lab validate`` (``load_for_lab`` with the
inventory's ``[lab.limits]``, then the claims against the inventory, then the product's owner in
the catalogue) and refuses it with every problem as ``{"file", "field", "message"}``
(``Rejected``: 422), storing nothing; else it moves the archive to
``LAB_STORAGE/submissions/<id>/submission.<ext>``, writes the submission and its cells (the
ledger's ``plan_cells``: one per target, attempt 1, queued), commits, and enqueues one task per
cell through ``lab.centre.tasks.enqueue(cell, settings)``.

A submission names its uploader as its vendor: ``[product] vendor`` must be the vendor name of the
uploading organisation (``Organisation.vendor_name``, set by an engineer), so a certificate's vendor
is one the centre authenticated, never a name another organisation wrote. An organisation has at
most ``max_pending_per_org`` submissions queued or running (``TooManyPending``: 429), and an archive
already queued for it is not queued twice (``AlreadyPending``: 409).

A claimed target that this lab's inventory disables has no worker to serve it: its cell is
*broken* at once with that reason (the command line says the same when such a target is named).

Example::

    upload = await receive_upload(request, settings.max_upload_bytes, spool)
    try:
        sub = accept_submission(engine, settings, inventory, org_id, upload)   # Rejected: 422
    finally:
        upload.discard()
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from lab.catalogue.record import check_owner
from lab.centre import ledger
from lab.centre.auth import now
from lab.centre.models import Cell, Organisation, Submission
from lab.centre.upload import Problem, Rejected, Upload
from lab.errors import InfrastructureError, InputError
from lab.i18n import N_
from lab.inventory.load import LoadedInventory
from lab.run.plan import choose_suites, choose_targets
from lab.runid import new_run_id
from lab.settings import Settings
from lab.submission import load_for_lab
from lab.submission.load import MANIFEST
from lab.wording import Wording

Enqueue = Callable[[Cell, Settings], None]

# Why cells cannot be queued (503): in English to the API, in the page's language on the portal
NO_TASKS = Wording(N_("cells cannot be queued: lab.centre.tasks is not available (%(why)s)"))
NOT_QUEUED = Wording(N_("cells cannot be queued (is the broker up?): %(why)s"))
NOT_YOUR_VENDOR = Wording(N_("%(vendor)s is not your organisation's vendor name, %(yours)s: a certificate names "
                             "the vendor that uploaded it"))
ANOTHERS_PRODUCT = Wording(N_("%(product)s is submitted to this centre by %(other)s: a product's name is its "
                              "vendor's from its first upload (ask the lab to transfer it if it is yours)"))
ALREADY_QUEUED = Wording(N_("this archive is already submission %(id)s (%(state)s): it is not queued twice"))
TOO_MANY_QUEUED = Wording(N_("your organisation has %(count)s submissions queued or running, this centre's most "
                             "(%(most)s): upload again when one has finished"))


# --- validating -----------------------------------------------------------------------------------

_UNPACKED = re.compile(r"^.*?/lab-submission-[^/]+/files/")
_MANIFEST_SAID = re.compile(r"^(/.*?/lab-submission-[^/]+/files/)(.*?" + re.escape(MANIFEST) + r"): (.*)$", re.S)
_WHOLE_ARCHIVE = ("not a readable archive", "cannot be read", "not a regular file", "archive:")


def _split(problem: str) -> tuple[str, str]:
    """``field: message`` -> (field, message); a problem that names no field has field ``""``."""
    field_, sep, message = problem.partition(": ")
    return (field_, message) if sep else ("", problem)


def problems_of(exc: InputError, upload: Upload) -> list[Problem]:
    """``lab validate``'s problems, by file and field: the manifest's path inside the archive, or
    the archive's name with the member (or ``archive``) as the field. No temporary path leaks."""
    archive = str(upload.path)
    file = upload.filename if exc.source == archive else _UNPACKED.sub("", exc.source)
    found = []
    for p in exc.problems:
        m = _MANIFEST_SAID.match(p)
        if m:
            found.append(Problem(m.group(2), *_split(m.group(3))))
        elif exc.source == archive and p.startswith(_WHOLE_ARCHIVE):
            found.append(Problem(file, "archive", p.removeprefix("archive: ")))
        else:
            found.append(Problem(file, *_split(_UNPACKED.sub("", p))))
    return found


@dataclass
class Planned:
    """What a valid upload will become: the submission's fields and its targets."""

    product: str
    version: str
    vendor: str
    artifacts: list[dict]
    targets: list  # lab.inventory.model.Target, in the plan's order
    suites: list[str]


class TooManyPending(InputError):
    """The organisation has as many submissions queued or running as the centre allows (429)."""


class AlreadyPending(InputError):
    """The same archive is already queued or running for the organisation (409)."""


def validate_upload(engine: Engine, inv: LoadedInventory, upload: Upload, vendor: str | None = None) -> Planned:
    """Check the archive as ``lab validate`` does, then that it names ``vendor`` (the uploading
    organisation's vendor name) and its product's owner in the catalogue; ``Rejected`` with every
    problem."""
    try:
        sub = load_for_lab(upload.path, inv.model.lab)
    except InputError as exc:
        raise Rejected(problems_of(exc, upload)) from None
    try:
        manifest = _UNPACKED.sub("", str(sub.root / MANIFEST))
        product = sub.model.product
        if vendor is not None and product.vendor != vendor:
            raise Rejected([Problem(manifest, "product.vendor",
                                    NOT_YOUR_VENDOR.say(vendor=repr(product.vendor), yours=repr(vendor)))])
        try:
            targets = choose_targets(inv, sub, None)
            check_owner(engine, product.name, product.vendor, source=manifest)
        except InputError as exc:
            raise Rejected(problems_of(exc, upload)) from None
        other = _submitted_by_another(engine, product.name, product.vendor)
        if other is not None:
            raise Rejected([Problem(manifest, "product.name", ANOTHERS_PRODUCT.say(product=repr(product.name),
                                                                                 other=repr(other)))])
        return Planned(product.name, product.version, product.vendor,
                       [{"path": a.path, "sha256": sub.sha256[a.path], "arch": a.arch} for a in sub.model.artifacts],
                       targets, choose_suites(None))
    finally:
        sub.cleanup()


def _submitted_by_another(engine: Engine, product: str, vendor: str) -> str | None:
    """The vendor of an earlier upload of ``product``, when it is not ``vendor``. The catalogue knows
    a product's owner once it is published; until then its first upload holds the name (a hostile
    review uploaded ACME's unpublished product name under its own, and an engineer's waiver for
    ACME's product then passed its failure with a signed certificate). Once the catalogue knows the
    product, its owner there decides (``check_owner``; a transfer moves it)."""
    from lab.catalogue.models import Product

    with Session(engine) as s:
        if s.scalar(select(Product.name).where(Product.name == product)) is not None:
            return None
        return s.scalar(select(Submission.vendor).where(Submission.product == product, Submission.vendor != vendor)
                        .order_by(Submission.created).limit(1))


# --- storing, planning, enqueueing ----------------------------------------------------------------

def submission_dir(storage: Path, submission_id: str) -> Path:
    return Path(storage) / "submissions" / submission_id


def archive_path(storage: Path, submission_id: str) -> Path | None:
    """The stored archive of a submission (``submission.tar.gz`` or ``submission.zip``), if any."""
    folder = submission_dir(storage, submission_id)
    return next((folder / f"submission.{s}" for s in ("tar.gz", "zip") if (folder / f"submission.{s}").is_file()),
                None)


def default_enqueue() -> Enqueue:
    """``lab.centre.tasks.enqueue``; an ``InfrastructureError`` (503) while that module is missing."""
    try:
        from lab.centre.tasks import enqueue
    except ImportError as exc:
        raise InfrastructureError(NO_TASKS.say(why=exc)) from None
    return enqueue


def disabled_reason(target: str) -> str:
    return f"lab.target: {target} is disabled in this lab's inventory: no worker serves it"


def accept_submission(engine: Engine, settings: Settings, inv: LoadedInventory, org_id: int, upload: Upload,
                      enqueue: Enqueue | None = None) -> Submission:
    """Validate, store, plan and enqueue an upload; the new ``Submission`` (detached, cells loaded).

    ``Rejected`` (nothing stored) for a bad submission; ``InfrastructureError`` if the cells cannot
    be queued (the submission is then removed again, so that the vendor simply uploads again).
    """
    enqueue = enqueue or default_enqueue()
    with Session(engine) as s:
        org = s.get(Organisation, org_id)
        if org is None:
            raise InputError("upload", [f"organisation {org_id} does not exist"])
        vendor = org.vendor_name
        _room(s, org_id, upload.sha256, settings.max_pending_per_org)  # early: before the archive is read
    planned = validate_upload(engine, inv, upload, vendor)
    sub_id = str(uuid.uuid4())
    folder = submission_dir(settings.storage, sub_id)
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.mkdir(folder, 0o750)
    stored = folder / upload.path.name
    os.replace(upload.path, stored)
    upload.path = stored
    at = now()
    row = Submission(id=sub_id, org_id=org_id, product=planned.product, version=planned.version,
                     vendor=planned.vendor, run_id=f"{new_run_id(planned.product)}-{sub_id[:8]}",
                     archive_sha256=upload.sha256, artifacts=planned.artifacts, suites=planned.suites,
                     state="queued", published=False, created=at)
    try:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            # again, holding the organisation's row for writing: two uploads at once cannot both take
            # the last place. A write rather than SELECT ... FOR UPDATE, which SQLite ignores: there
            # it takes the database's write lock, on PostgreSQL the row's lock, before the count.
            s.execute(update(Organisation).where(Organisation.id == org_id).values(id=Organisation.id))
            _room(s, org_id, upload.sha256, settings.max_pending_per_org)
            s.add(row)
            s.flush()
            cells = ledger.plan_cells(s, row, planned.targets)
            disabled = {t.name for t in planned.targets if not t.enabled}
            for cell in cells:
                if cell.target in disabled:
                    cell.state, cell.reason, cell.finished_at = "broken", disabled_reason(cell.target), at
            if not any(c.state == "queued" for c in cells):
                row.state, row.finished = "finished", at
            set_committed_value(row, "cells", cells)  # loaded as they are: the caller reads them detached
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        for cell in row.cells:
            if cell.state == "queued":
                enqueue(cell, settings)
    except Exception as exc:
        _forget(engine, sub_id, folder)
        if isinstance(exc, InfrastructureError):
            raise
        raise InfrastructureError(NOT_QUEUED.say(why=f"{type(exc).__name__}: {exc}")) from None
    return row


def _room(s: Session, org_id: int, sha256: str, most: int) -> None:
    """``AlreadyPending`` when this archive is queued or running for the organisation already,
    ``TooManyPending`` when it has ``most`` submissions queued or running."""
    pending = s.scalars(select(Submission).where(Submission.org_id == org_id,
                                                 Submission.state.in_(("queued", "running")))).all()
    same = next((p for p in pending if p.archive_sha256 == sha256), None)
    if same is not None:
        raise AlreadyPending("upload", [ALREADY_QUEUED.say(id=same.id, state=same.state)])
    if len(pending) >= most:
        raise TooManyPending("upload", [TOO_MANY_QUEUED.say(count=len(pending), most=most)])


def _forget(engine: Engine, sub_id: str, folder: Path) -> None:
    with Session(engine) as s, s.begin():
        s.execute(delete(Cell).where(Cell.submission_id == sub_id))
        s.execute(delete(Submission).where(Submission.id == sub_id))
    shutil.rmtree(folder, ignore_errors=True)
