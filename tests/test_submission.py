"""Submissions: the manifest model, file checks and safe unpacking (no container needed)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import pytest

from lab.errors import InputError
from lab.submission import load_submission

MANIFEST = """schema = 1
[product]
name = "acme-hello"
version = "1.2.0"
vendor = "ACME"
[[artifacts]]
path = "acme-hello_1.2.0_amd64.deb"
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "submission.toml").write_text(MANIFEST)
    (tmp_path / "acme-hello_1.2.0_amd64.deb").write_bytes(b"not really a deb")
    return tmp_path


def problems(path):
    with pytest.raises(InputError) as info:
        load_submission(path)
    return info.value.problems


def test_valid_folder_infers_format_and_hashes(folder):
    sub = load_submission(folder)
    assert sub.model.artifacts[0].format == "deb"
    assert sub.sha256["acme-hello_1.2.0_amd64.deb"] == hashlib.sha256(b"not really a deb").hexdigest()
    assert sub.model.claims.targets == [] and sub.model.service is None


def test_every_problem_named_with_file_and_dotted_path(folder):
    (folder / "submission.toml").write_text(MANIFEST.replace('version = "1.2.0"\n', 'versoin = "1"\n')
                                            .replace('name = "acme-hello"', 'name = "ACME Hello"')
                                            + '[service]\ncommand = "x"\nports = [70000]\n')
    with pytest.raises(InputError) as info:
        load_submission(folder)
    assert info.value.source == str(folder / "submission.toml")
    found = info.value.problems
    assert [p.split(": ", 1)[0] for p in found] == ["product.name", "product.version", "product.versoin",
                                                    "service.ports"]
    assert "product.version: field required" in found and "product.versoin: unknown key" in found


def test_checksum_mismatch_and_missing_file(folder):
    (folder / "submission.toml").write_text(MANIFEST + f'sha256 = "{"0" * 64}"\n[[artifacts]]\npath = "gone.tar.gz"\n'
                                            'prefix = "/opt/x"\n')
    found = problems(folder)
    assert any("artifacts[0].sha256: mismatch: acme-hello_1.2.0_amd64.deb has" in p for p in found)
    assert any("artifacts[1].path: gone.tar.gz not found in the submission" in p for p in found)


@pytest.mark.parametrize(("artifact", "message"), [
    ('path = "x.tar.gz"', "artifacts[0]: prefix: an absolute path is required for format = 'tar'"),
    ('path = "x.bin"', "artifacts[0]: format: cannot infer from 'x.bin'; give deb, rpm or tar"),
    ('path = "../x.deb"', "artifacts[0].path: must be a relative path inside the submission"),
    ('path = "x.deb"\nprefix = "/opt"', "artifacts[0]: prefix: only for format = 'tar'"),
])
def test_artifact_rules(folder, artifact, message):
    (folder / "submission.toml").write_text(MANIFEST.replace('path = "acme-hello_1.2.0_amd64.deb"', artifact))
    assert message in problems(folder)


def test_schema_version_is_required(folder):
    (folder / "submission.toml").write_text(MANIFEST.replace("schema = 1", "schema = 2"))
    assert problems(folder) == ["schema: Input should be 1"]


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_archive_with_a_top_folder_loads(tmp_path):
    archive = _tar(tmp_path / "s.tar.gz", [_file("acme/submission.toml", MANIFEST.encode()),
                                          _file("acme/acme-hello_1.2.0_amd64.deb")])
    sub = load_submission(archive)
    try:
        assert sub.root.name == "acme" and sub.model.product.name == "acme-hello"
    finally:
        sub.cleanup()


def _leftover_dirs():
    return {d for d in os.listdir(tempfile.gettempdir()) if d.startswith("lab-submission-")}


def test_unsafe_tar_is_refused_whole_and_writes_nothing(tmp_path):
    link = tarfile.TarInfo("escape")
    link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    archive = _tar(tmp_path / "evil.tar.gz", [_file("submission.toml", MANIFEST.encode()),
                                             _file("/etc/cron.d/evil"), _file("a/../../up"),
                                             (link, None), (dev, None)])
    before = _leftover_dirs()
    found = problems(archive)
    assert found == ["/etc/cron.d/evil: absolute path", "a/../../up: '..' component",
                     "escape: link to '../../etc/passwd' points outside the submission",
                     "dev: device or FIFO file"]
    assert _leftover_dirs() == before
    assert not (tmp_path / "up").exists()


def test_unsafe_zip_is_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("submission.toml", MANIFEST)
        zf.writestr("../outside.txt", "x")
    assert problems(path) == ["../outside.txt: '..' component"]


def test_cli_validate_exit_codes_and_no_traceback(folder, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "lab", "validate", str(folder)], capture_output=True, text=True)
    assert ok.returncode == 0 and "valid" in ok.stdout
    (folder / "submission.toml").write_text(MANIFEST + "typo = 1\n")
    bad = subprocess.run([sys.executable, "-m", "lab", "validate", str(folder)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "typo: unknown key" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    gone = subprocess.run([sys.executable, "-m", "lab", "validate", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert gone.returncode == 2 and "no such file or folder" in gone.stderr
