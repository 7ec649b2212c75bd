"""Receiving a vendor's upload: a multipart body streamed to a private temporary file, hashed on the
way, never held in memory, and stopped at the centre's limit.

``receive_upload`` answers an ``Upload`` (the archive renamed ``submission.tar.gz`` or
``submission.zip``, by its name or its first bytes, and the form's small text fields, such as the
portal's CSRF token), or raises ``UploadTooLarge`` (413) or ``Rejected`` (422, with problems as
``{"file", "field", "message"}``); either way a refused upload leaves nothing behind, and what is
left of its body is read and dropped (up to ``DRAIN_MAX``) so that the client hears the answer.

Example::

    upload = await receive_upload(request, settings.max_upload_bytes, settings.storage / "tmp")
    try:
        ...  # upload.path, upload.sha256, upload.fields["csrf"]
    finally:
        upload.discard()
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from lab.errors import InputError
from lab.i18n import N_
from lab.wording import Wording

FIELD = "submission"          # the multipart field of the archive (the public contract)
SLACK = 1 << 20               # multipart framing and small fields allowed beyond the archive's limit
DRAIN_MAX = 16 << 20          # read and dropped after a refusal, so the client sees the answer
TEXT_FIELD_MAX = 4096         # other form fields (the portal's CSRF token): small, and few
TEXT_FIELDS_MAX = 16
SUFFIXES = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".zip": "zip"}
SAFE_NAME = 200

# What is wrong with an upload, said in English to the API and in the page's language on the portal
GIVEN_TWICE = Wording(N_("given twice: send one archive per upload"))
TOO_MANY_FIELDS = Wording(N_("more than %(most)s form fields"))
FIELD_TOO_LONG = Wording(N_("longer than %(most)s bytes"))
NOT_MULTIPART = Wording(N_("send the archive as multipart/form-data, in the field '%(field)s'"))
NO_ARCHIVE = Wording(N_("missing: the form has no complete '%(field)s' file field"))
MALFORMED = Wording(N_("not a well-formed multipart/form-data body: %(why)s"))
NOT_AN_ARCHIVE = Wording(N_("not a .tar.gz or .zip archive (by its name and its first bytes)"))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an upload, as the API answers it: ``{"file", "field", "message"}``."""

    file: str
    field: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


class Rejected(InputError):
    """The upload is refused (422): ``found`` says every problem, by file and field."""

    def __init__(self, found: list[Problem]):
        self.found = found
        super().__init__("upload", [f"{p.file}: {p.field}: {p.message}" for p in found])


class UploadTooLarge(InputError):
    """More bytes than ``max_upload_bytes`` (413); nothing was kept."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__("upload", [f"{FIELD}: larger than this centre's limit of {limit} bytes"])


@dataclass
class Upload:
    """An archive received into a private folder (``discard`` removes it) and the form's text fields."""

    folder: Path
    path: Path | None = None
    filename: str = ""
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def shown_name(name: str) -> str:
    """A file name as a message may say it: its last part, printable, bounded."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c if c.isprintable() else "?" for c in base)
    return base[:SAFE_NAME] or "(unnamed upload)"


# --- receiving ------------------------------------------------------------------------------------

class _Parts:
    """The multipart parser's callbacks: the archive to a file, small text fields to a dict."""

    def __init__(self, upload: Upload, limit: int):
        self.upload, self.limit = upload, limit
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.sink = None          # the open archive file, while its part streams
        self.text: bytearray | None = None
        self.name = ""
        self.hash = hashlib.sha256()
        self.seen_archive = False

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self.headers, self.text, self.sink = {}, None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field, self.header_value = bytearray(), bytearray()

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = params.get(b"name", b"").decode("utf-8", "replace")
        if self.name == FIELD:
            if self.seen_archive:
                raise Rejected([Problem("", FIELD, GIVEN_TWICE.say())])
            self.seen_archive = True
            self.upload.filename = shown_name(params.get(b"filename", b"").decode("utf-8", "replace"))
            self.upload.path = self.upload.folder / "upload.part"
            self.sink = self.upload.path.open("wb")
        elif b"filename" not in params:
            if len(self.upload.fields) >= TEXT_FIELDS_MAX:
                raise Rejected([Problem("", self.name[:60], TOO_MANY_FIELDS.say(most=TEXT_FIELDS_MAX))])
            self.text = bytearray()

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.sink is not None:
            self.upload.size += len(chunk)
            if self.upload.size > self.limit:
                raise UploadTooLarge(self.limit)
            self.hash.update(chunk)
            self.sink.write(chunk)
        elif self.text is not None:
            self.text += chunk
            if len(self.text) > TEXT_FIELD_MAX:
                raise Rejected([Problem("", self.name[:60], FIELD_TOO_LONG.say(most=TEXT_FIELD_MAX))])
        # any other file part is dropped (its bytes still count against the body's limit)

    def part_end(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None
            self.upload.sha256 = self.hash.hexdigest()
        elif self.text is not None:
            self.upload.fields[self.name] = self.text.decode("utf-8", "replace")
            self.text = None

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None


async def receive_upload(request, limit: int, spool: Path) -> Upload:
    """Stream ``request``'s multipart body into a new private folder under ``spool``.

    ``UploadTooLarge`` past ``limit`` bytes of archive (or a body declaring more), ``Rejected`` for
    a body that is not a form with one ``submission`` archive; either way nothing is kept, and up
    to ``DRAIN_MAX`` more bytes are read and dropped so that the client hears the answer.
    """
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    refusal: InputError | None = None
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        refusal = Rejected([Problem("", FIELD, NOT_MULTIPART.say(field=FIELD))])
    declared = request.headers.get("content-length", "")
    if refusal is None and declared.isdigit() and int(declared) > limit + SLACK:
        refusal = UploadTooLarge(limit)
    spool.mkdir(parents=True, exist_ok=True)
    upload = Upload(Path(tempfile.mkdtemp(prefix="upload-", dir=spool)))
    parts = _Parts(upload, limit)
    parser = MultipartParser(params.get(b"boundary", b"-"), parts.callbacks())
    received, stop_at = 0, DRAIN_MAX
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if refusal is None:
                try:
                    if received > limit + SLACK:
                        raise UploadTooLarge(limit)
                    parser.write(chunk)
                except (InputError, MultipartParseError) as exc:
                    refusal = exc if isinstance(exc, InputError) else _malformed(exc)
                    stop_at = received + DRAIN_MAX
                    parts.close()
            elif received > stop_at:
                break
        if refusal is None:
            try:
                parser.finalize()
            except MultipartParseError as exc:
                refusal = _malformed(exc)
        if refusal is None and (upload.path is None or parts.sink is not None):
            refusal = Rejected([Problem("", FIELD, NO_ARCHIVE.say(field=FIELD))])
        if refusal is not None:
            raise refusal
        upload.path = _named(upload)
        return upload
    except BaseException:
        parts.close()
        upload.discard()
        raise


async def drain(request, most: int = DRAIN_MAX) -> None:
    """Read and drop what is left of a refused request's body, so that the client hears the answer."""
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > most:
                return
    except Exception:  # a client gone, a stream already read: there is nothing left to drain
        return


def _malformed(exc: Exception) -> Rejected:
    return Rejected([Problem("", FIELD, MALFORMED.say(why=exc))])


def _named(upload: Upload) -> Path:
    """The archive renamed ``submission.tar.gz`` or ``submission.zip``: by its name, else by its
    first bytes (``load_submission`` reads it by its suffix)."""
    name = upload.filename.lower()
    suffix = next((s for ext, s in SUFFIXES.items() if name.endswith(ext)), None)
    if suffix is None:
        with upload.path.open("rb") as fh:
            head = fh.read(4)
        suffix = "tar.gz" if head[:2] == b"\x1f\x8b" else "zip" if head[:2] == b"PK" else None
    if suffix is None:
        raise Rejected([Problem(upload.filename, "archive", NOT_AN_ARCHIVE.say())])
    path = upload.folder / f"submission.{suffix}"
    os.replace(upload.path, path)
    return path
