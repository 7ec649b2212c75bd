"""Certificates: issued over a canonical form, and any change of content, key, date or artifact fails."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.certs.certificate import issue, read, verify
from lab.certs.keys import load_or_create, public_pem
from lab.errors import InputError
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts


@pytest.fixture
def artifact(tmp_path):
    p = tmp_path / "acme_1.0_amd64.deb"
    p.write_bytes(b"the certified bytes")
    return p


@pytest.fixture
def verdicts(artifact):
    from lab.submission.load import sha256_file

    result = TargetResult(verdict="passed", facts={"arch": "x86_64", "glibc": "2.36"},
                          checks=[Check(id="install.package", outcome="passed"),
                                  Check(id="service.ready", outcome="skipped")])
    return Verdicts(run="20261129-120301-acme", submission=SubmissionRef(
        name="acme", version="1.0", vendor="ACME <script>", artifacts=[
            ArtifactRef(path=artifact.name, sha256=sha256_file(artifact))]), targets={"debian12-x86_64": result})


@pytest.fixture
def key(tmp_path):
    return load_or_create(tmp_path / "keys" / "lab.pem")


@pytest.fixture
def cert(verdicts, key):
    return issue(verdicts, "debian12-x86_64", verdicts.targets["debian12-x86_64"], key, "Test Lab")


def test_a_fresh_certificate_verifies_with_its_artifact(cert, key, artifact):
    result = verify(cert, key.public_key(), artifact)
    assert result.valid and result.problems == []
    assert cert["certificate"]["suites"] == ["install"]
    assert cert["certificate"]["target"]["facts"]["glibc"] == "2.36"


def _strings(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
    elif isinstance(node, str):
        yield path


def test_changing_any_string_of_the_content_breaks_the_signature(cert, key):
    paths = list(_strings(cert["certificate"]))
    assert len(paths) > 10
    for path in paths:
        tampered = json.loads(json.dumps(cert))
        node = tampered["certificate"]
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = node[path[-1]][:-1] + chr(ord(node[path[-1]][-1]) ^ 1)
        result = verify(tampered, key.public_key())
        assert not result.valid, path
        assert "altered" in result.problems[0]


def test_a_changed_artifact_another_key_or_the_expiry_fail(cert, key, artifact, tmp_path):
    artifact.write_bytes(b"the certified bytes!")
    assert "is not a certified artifact" in verify(cert, key.public_key(), artifact).problems[0]
    other = Ed25519PrivateKey.generate().public_key()
    assert any("not by the trusted key" in p for p in verify(cert, other).problems)
    later = datetime.now(UTC) + timedelta(days=400)
    assert any(p.startswith("expired on") for p in verify(cert, key.public_key(), now=later).problems)


def test_the_key_is_created_once_private_and_reused(tmp_path):
    path = tmp_path / "k" / "lab.pem"
    first = load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_pem(load_or_create(path).public_key()) == public_pem(first.public_key())


def test_bad_input(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InputError, match="not JSON"):
        read(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"certificate": {}}')
    with pytest.raises(InputError) as info:
        read(tmp_path / "y.json")
    assert info.value.problems == ["signature: missing"]


def test_cli_exit_codes(cert, key, artifact, tmp_path):
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    pub = tmp_path / "lab.pub.pem"
    pub.write_bytes(public_pem(key.public_key()))

    def lab(*args):
        return subprocess.run([sys.executable, "-m", "lab", "certificate", "verify", *args],
                              capture_output=True, text=True)
    ok = lab(str(path), "--key", str(pub), "--artifact", str(artifact))
    assert ok.returncode == 0 and "valid" in ok.stdout
    path.write_text(json.dumps(cert).replace("debian12-x86_64", "debian13-x86_64"))
    bad = lab(str(path), "--key", str(pub))
    assert bad.returncode == 1 and "altered" in bad.stdout
    assert lab(str(tmp_path / "none.json"), "--key", str(pub)).returncode == 2
