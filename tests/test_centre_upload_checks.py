"""What the centre refuses to take in, in process (SQLite, no broker): a bad manifest or a missing
artifact (422, every problem by file and field), an unsafe or unreadable archive (422 naming the
member), more than the size limit (413, also while streaming, nothing kept), a form without the
archive; and problems named by the file inside the archive, never a temporary path."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import pytest

from lab.centre.intake import problems_of
from lab.centre.upload import Problem, Rejected, Upload, UploadTooLarge, receive_upload
from lab.errors import InputError
from tests.centre_app import MAX_UPLOAD, MEMBERS_MAX, bearer, folder_like_acme, tar_gz

pytestmark = pytest.mark.usefixtures("quick_hashes")  # argon2 at its lowest cost


def tar_with(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info in members:
            payload = (data or {}).get(info.name)
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


# --- refusals: 422, 413 ---------------------------------------------------------------------------


def test_a_bad_manifest_is_422_with_every_problem_by_file_and_field(centre, tmp_path):
    folder = folder_like_acme(tmp_path, "Bad Name")
    text = (folder / "submission.toml").read_text().replace('path = "acme-calc_0.9.0_all.deb"',
                                                            'path = "missing_1.0_all.deb"')
    (folder / "submission.toml").write_text(text + "\n[wrong]\nx = 1\n")
    r = centre.upload(tar_gz(folder))
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert all(set(p) == {"file", "field", "message"} for p in problems)
    assert {(p["file"], p["field"]) for p in problems} >= {("acme-calc/submission.toml", "product.name"),
                                                          ("acme-calc/submission.toml", "wrong")}
    assert not any("/tmp" in p["file"] + p["message"] or "lab-submission-" in p["file"] for p in problems)
    assert centre.stored() == [] and centre.submissions() == 0


def test_a_missing_artifact_is_named_in_the_manifest(centre, tmp_path):
    folder = folder_like_acme(tmp_path)
    (folder / "acme-calc_0.9.0_all.deb").unlink()
    problems = centre.upload(tar_gz(folder)).json()["problems"]
    assert problems == [{"file": "acme-calc/submission.toml", "field": "artifacts[0].path",
                         "message": "acme-calc_0.9.0_all.deb not found in the submission"}]


@pytest.mark.parametrize(("archive", "name", "field", "says"), [
    (b"just text, no archive", "notes.txt", "archive", "not a .tar.gz or .zip"),
    (b"\x1f\x8b not really gzip", "x.tar.gz", "archive", "not a readable archive"),
    (tar_with([member("../evil.txt")], {"../evil.txt": b"x"}), "dots.tar.gz", "../evil.txt", "'..' component"),
    (tar_with([member("link", tarfile.SYMTYPE, "/etc/passwd")]), "link.tar.gz", "link", "link"),
    (tar_with([member(f"f{i}") for i in range(MEMBERS_MAX + 5)], {f"f{i}": b"" for i in range(MEMBERS_MAX + 5)}),
     "many.tar.gz", "archive", f"more than {MEMBERS_MAX} members"),
])
def test_an_unsafe_or_unreadable_archive_is_422_naming_the_member(centre, archive, name, field, says):
    r = centre.upload(archive, name=name)
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert any(p["file"] == name and p["field"] == field and says in p["message"] for p in problems), problems
    assert centre.stored() == [] and centre.submissions() == 0


def test_more_than_the_limit_is_413_and_nothing_is_kept(centre):
    r = centre.upload(b"\x1f\x8b" + b"x" * (MAX_UPLOAD + 10))
    assert r.status_code == 413 and str(MAX_UPLOAD) in r.json()["detail"]
    assert centre.stored() == [] and centre.submissions() == 0


class Streamed:
    """A request whose body comes in chunks, with no Content-Length: the limit holds while reading."""

    def __init__(self, chunks: list[bytes], boundary: str = "b0undary"):
        self.headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        self.chunks = chunks
        self.read = 0

    async def stream(self):
        for c in self.chunks:
            self.read += len(c)
            yield c


def _multipart(payload_chunks: list[bytes], boundary: str = "b0undary") -> list[bytes]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"submission\"; filename=\"a.tar.gz\"\r\n"
            "Content-Type: application/gzip\r\n\r\n").encode()
    return [head, *payload_chunks, f"\r\n--{boundary}--\r\n".encode()]


def test_a_streamed_upload_stops_at_the_limit_and_keeps_nothing(tmp_path):
    chunk = b"\x1f\x8b" + b"z" * (64 << 10)
    request = Streamed(_multipart([chunk] * 2000))  # 128 MiB if read to the end
    with pytest.raises(UploadTooLarge):
        asyncio.run(receive_upload(request, limit=1 << 20, spool=tmp_path))
    assert request.read < (1 << 20) + (17 << 20)  # the limit, then at most DRAIN_MAX dropped
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_upload_within_the_limit_is_hashed_on_the_way(tmp_path, acme):
    import hashlib

    spool = tmp_path / "spool"
    up = asyncio.run(receive_upload(Streamed(_multipart([acme[:100], acme[100:]])), limit=1 << 20, spool=spool))
    try:
        assert up.path.name == "submission.tar.gz" and up.path.read_bytes() == acme
        assert up.sha256 == hashlib.sha256(acme).hexdigest() and up.filename == "a.tar.gz"
    finally:
        up.discard()
    assert list(spool.iterdir()) == []


def test_a_form_without_the_archive_field_is_422(centre):
    r = centre.client.post("/api/v1/submissions", files={"other": ("a.tar.gz", b"x")}, headers=bearer(centre.acme))
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "submission"
    r = centre.client.post("/api/v1/submissions", content=b"{}", headers={**bearer(centre.acme),
                                                                        "Content-Type": "application/json"})
    assert r.status_code == 422 and "multipart/form-data" in r.json()["problems"][0]["message"]


def test_problems_name_the_manifest_inside_the_archive_not_a_temporary_path():
    upload = Upload(Path("/srv/spool/upload-x"), Path("/srv/spool/upload-x/submission.tar.gz"), "mine.tar.gz")
    inside = "/tmp/lab-submission-abc123/files/acme/submission.toml"
    found = problems_of(InputError(str(upload.path), [f"{inside}: artifacts[0].sha256: mismatch: a has b",
                                                      "x/../y: '..' component", "archive: more than 5 members"]),
                        upload)
    assert found == [Problem("acme/submission.toml", "artifacts[0].sha256", "mismatch: a has b"),
                     Problem("mine.tar.gz", "x/../y", "'..' component"),
                     Problem("mine.tar.gz", "archive", "more than 5 members")]
    found = problems_of(InputError(inside, ["product.name: must match [a-z0-9][a-z0-9.+_-]*"]), upload)
    assert found == [Problem("acme/submission.toml", "product.name", "must match [a-z0-9][a-z0-9.+_-]*")]
    assert isinstance(Rejected(found), InputError)
