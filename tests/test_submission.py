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
from lab.submission.load import same_version

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
    assert "product.version: field required" in found
    assert "product.versoin: unknown key (did you mean 'version'?)" in found


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
    ('path = "x.tar.gz"\nprefix = "/opt/\\u001b[31m"',
     "artifacts[0].prefix: must be printable text without control characters"),
    ('path = "x.tar.gz"\nprefix = "/opt"\ninstall = "make\\u0000; rm -rf /"',
     "artifacts[0].install: must not contain NUL"),
    ('path = "x.deb"\n[service]\ncommand = "run\\u0000x"', "service.command: must not contain NUL"),
])
def test_artifact_rules(folder, artifact, message):
    (folder / "submission.toml").write_text(MANIFEST.replace('path = "acme-hello_1.2.0_amd64.deb"', artifact))
    assert message in problems(folder)


def test_schema_version_is_required(folder):
    (folder / "submission.toml").write_text(MANIFEST.replace("schema = 1", "schema = 2"))
    assert problems(folder) == ["schema: must be 1, given 2"]


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
                     "escape: symbolic link (links are not accepted)",
                     "dev: device file (only files and folders are accepted)"]
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


def _validate(path, *extra, cwd=None):
    return subprocess.run([sys.executable, "-m", "lab", "validate", str(path), *extra], capture_output=True,
                          text=True, cwd=cwd, check=False)


def test_hostile_manifest_strings_exit_2_naming_each_field(folder):
    """A 100,000-character name, a 1 MB version, a shell line as an env key, a port as a string."""
    (folder / "submission.toml").write_text(
        MANIFEST.replace('name = "acme-hello"', f'name = "{"a" * 100_000}"')
                .replace('version = "1.2.0"', f'version = "{"1" * 1_000_000}"')
        + '[service]\ncommand = "x"\nports = ["80"]\nenv = { "X=1 $(touch /tmp/p) Y" = "v" }\n')
    r = _validate(folder)
    assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr
    said = " ".join(r.stderr.split())
    for field in ("product.name:", "product.version:", "service.ports[0]:", "service.env:"):
        assert field in said
    assert len(r.stderr) < 10_000  # the problems name the fields; they do not echo a megabyte back
    assert not os.path.exists("/tmp/p")


def test_markup_in_vendor_strings_prints_literally(folder):
    (folder / "submission.toml").write_text(MANIFEST.replace('version = "1.2.0"', 'version = "1[/bogus]"')
                                            .replace('vendor = "ACME"', 'vendor = "[bold red]ACME"'))
    r = _validate(folder)
    assert r.returncode == 0, r.stderr
    assert "valid: acme-hello 1[/bogus] by [bold red]ACME" in r.stdout


def test_submission_limits_above_the_labs_maxima(folder, tmp_path):
    (folder / "submission.toml").write_text(MANIFEST + "[limits]\ninstall_timeout = 5000\n")
    assert problems(folder) == [f"{folder / 'submission.toml'}: limits.install_timeout: 5000 s is above this "
                                "lab's maximum of 3600 s ([lab.limits] max_install_timeout)"]
    from lab.inventory.model import Limits

    # a lab whose maximum (and wall clock for a target: five such steps) allow it
    allowing = Limits(max_install_timeout=6000, worker_timeout=30000)
    assert load_submission(folder, allowing).model.limits.install_timeout == 5000
    inventory = tmp_path / "inv.toml"
    inventory.write_text("targets = []\n[lab.limits]\nmax_install_timeout = 6000\nworker_timeout = 30000\n")
    assert _validate(folder, "--inventory", str(inventory)).returncode == 0


def test_links_in_a_folder_submission_are_refused_not_followed(folder, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.deb").write_bytes(b"not the vendor's")
    (folder / "acme-hello_1.2.0_amd64.deb").unlink()
    (folder / "acme-hello_1.2.0_amd64.deb").symlink_to(outside / "secret.deb")
    (folder / "pkg").symlink_to(outside)
    (folder / "tests").mkdir()
    (folder / "tests" / "conftest.py").symlink_to("/etc/passwd")
    (folder / "submission.toml").write_text(MANIFEST + '[[artifacts]]\npath = "pkg/secret.deb"\n'
                                            '[tests]\npaths = ["tests"]\n')
    manifest = folder / "submission.toml"
    assert problems(folder) == [
        f"{manifest}: artifacts[0].path: acme-hello_1.2.0_amd64.deb: symbolic link (links are not accepted)",
        f"{manifest}: artifacts[1].path: pkg: symbolic link (links are not accepted)",
        f"{manifest}: tests.paths[0]: tests/conftest.py: symbolic link (links are not accepted)"]
    (folder / "submission.toml").unlink()
    (folder / "submission.toml").symlink_to(outside / "secret.deb")
    assert problems(folder) == ["symbolic link (links are not accepted)"]


@pytest.mark.parametrize(("field", "given", "said"), [
    ("schema", "../../../../../../../etc/passwd", "database.schema: must be a relative path inside the submission"),
    ("checks", "/etc/shadow", "database.checks: must be a relative path inside the submission"),
    ("schema", "/dev/zero", "database.schema: must be a relative path inside the submission"),
])
def test_a_database_file_outside_the_submission_is_refused(folder, field, given, said):
    """A hostile vendor's `checks = "../../key.pem"` had the lab read the signing key on the
    controller and quote it in the check's message; `/dev/zero`, read whole, its memory."""
    with (folder / "submission.toml").open("a") as fh:
        fh.write(f'[database]\nengines = ["postgresql"]\n{field} = "{given}"\n')
    assert any(p.endswith(said) for p in problems(folder)), problems(folder)


def test_a_database_file_must_be_a_regular_file_of_bounded_size(folder):
    from lab.submission.load import SQL_MAX_BYTES

    (folder / "sql").mkdir()
    os.mkfifo(folder / "sql" / "pipe.sql")
    with open(folder / "sql" / "big.sql", "wb") as fh:
        fh.truncate(SQL_MAX_BYTES + 1)
    with (folder / "submission.toml").open("a") as fh:
        fh.write('[database]\nengines = ["postgresql"]\nschema = "sql/pipe.sql"\nchecks = "sql/big.sql"\n')
    said = problems(folder)
    assert any(p.endswith("database.schema: sql/pipe.sql is not a regular file") for p in said), said
    assert any(p.endswith("database.checks: sql/big.sql is larger than 16 MiB") for p in said), said


def test_a_submissions_file_is_never_read_from_outside_it(folder):
    sub = load_submission(folder)
    with pytest.raises(InputError):
        sub.file("../outside.sql")
    assert sub.file("acme-hello_1.2.0_amd64.deb").read_bytes() == b"not really a deb"


@pytest.mark.parametrize(("tail", "said"), [
    (b"[service]\ncommand = \"x\"\nenv = " + b"{a=" * 3000 + b"\"1\"" + b"}" * 3000 + b"\n",
     "nested more than 32 deep"),
    (b"[tests]\npaths = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 32 deep"),
    (b"[product]\nx = \"\xff\"\n", "not UTF-8 text: byte 0xff at line 9"),
])
def test_a_manifest_nested_thousands_deep_or_not_utf8_is_bad_input_not_a_crash(folder, tail, said):
    with (folder / "submission.toml").open("ab") as fh:
        fh.write(tail)
    assert problems(folder) == [said]
    proc = subprocess.run([sys.executable, "-m", "lab", "validate", str(folder)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(("claimed", "package", "same"), [
    ("1.6.18", "1.6.18-1+deb12u1", True), ("1.6.18", "1:1.6.18-1", True), ("2.0", "2.0.1-1", True),
    ("2.0.1 SP1", "2.0.1", True), ("1.0-lab1", "1.0-lab1", True),
    ("3.0.0", "1.0.0", False), ("1", "10.0", False), ("1.0", "1.0b2", False), ("1.0", "", False),
    # a hostile review: a pre-release is not the release, and a package's version not a later one
    ("3.0.0", "3.0.0~rc1", False), ("1.0.9", "1.0", False), ("1.5", "1", False), ("2.0-1", "2.0", False),
    ("2.0.1 (LTS)", "2.0.1", True)])
def test_the_version_a_manifest_claims_is_the_packages(claimed, package, same):
    assert same_version(claimed, package) is same


def test_a_manifest_version_no_package_carries_is_refused_naming_both(tmp_path):
    """Found by a new vendor: [product] version = "3.0.0" over a package of 1.0.0 got a signed
    certificate for 3.0.0."""
    from examples.make import build_deb

    deb = build_deb({"/usr/bin/v": b"#!/bin/sh\n"}, {"Package": "acme-v", "Version": "1.0.0", "Architecture": "all"},
                    tmp_path)
    (tmp_path / "submission.toml").write_text(
        'schema = 1\n[product]\nname = "acme-v"\nversion = "3.0.0"\nvendor = "V"\n'
        f'[[artifacts]]\npath = "{deb.name}"\n')
    with pytest.raises(InputError) as said:
        load_submission(tmp_path)
    assert f"product.version: 3.0.0, but no package of the submission is that version: {deb.name} is 1.0.0" \
        in str(said.value.problems)
    (tmp_path / "submission.toml").write_text((tmp_path / "submission.toml").read_text().replace("3.0.0", "1.0"))
    load_submission(tmp_path).cleanup()


def test_validate_says_a_manifests_errors_and_its_missing_files_in_one_round(tmp_path):
    """Found by a new vendor: four rounds of `lab validate` for problems two could have said."""
    (tmp_path / "submission.toml").write_text(
        'schema = 1\n[product]\nname = "r"\nverison = "1.0"\nvendor = "V"\n'
        '[[artifacts]]\npath = "missing_1.0_all.deb"\n[[artifacts]]\npath = "../outside.deb"\n')
    with pytest.raises(InputError) as said:
        load_submission(tmp_path)
    problems = said.value.problems
    assert "product.verison: unknown key (did you mean 'version'?)" in problems
    assert "artifacts[0].path: missing_1.0_all.deb not found in the submission" in problems
    assert not any("outside" in p and "not found" in p for p in problems)  # never looked for outside it


def test_the_package_named_as_the_product_carries_its_version_and_an_unreadable_one_hides_nothing(tmp_path):
    """A hostile review: a product of 1.0.0 beside a tiny .deb of 3.0.0 was valid as 3.0.0, and any
    unreadable .deb switched the check off."""
    from examples.make import build_deb

    real = build_deb({"/usr/bin/v": b"#!/bin/sh\n"}, {"Package": "acme-v", "Version": "1.0.0", "Architecture": "all"},
                     tmp_path)
    decoy = build_deb({"/usr/share/decoy": b"x"}, {"Package": "acme-decoy", "Version": "3.0.0",
                                                   "Architecture": "all"}, tmp_path)
    (tmp_path / "broken_1.0_all.deb").write_bytes(b"!<arch>\nnot really")
    manifest = ('schema = 1\n[product]\nname = "acme-v"\nversion = "3.0.0"\nvendor = "V"\n'
                f'[[artifacts]]\npath = "broken_1.0_all.deb"\n[[artifacts]]\npath = "{decoy.name}"\n'
                f'[[artifacts]]\npath = "{real.name}"\n')
    (tmp_path / "submission.toml").write_text(manifest)
    with pytest.raises(InputError) as said:
        load_submission(tmp_path)
    assert f"{real.name} is 1.0.0" in str(said.value.problems) and decoy.name not in str(said.value.problems)
