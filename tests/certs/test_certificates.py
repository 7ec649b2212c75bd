"""Certificates: issued over a canonical form, and any change of content, key, date or artifact fails;
a malformed file is bad input naming the field, never a traceback; a buyer can check one with
OpenSSL or Python alone, as docs/buyers.md shows."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.certs.certificate import issue, parse, read, verify
from lab.certs.keys import key_id, load_or_create, public_pem
from lab.certs.render import OPENSSL_RECIPE, PYTHON_RECIPE
from lab.errors import InputError
from tests.conftest import ROOT


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
    """Each changed string is caught: as an altered certificate, or (when the change breaks the
    structure, like a sha256 that is no longer hexadecimal) as bad input naming the field."""
    paths = list(_strings(cert["certificate"]))
    assert len(paths) > 10
    altered = 0
    for path in paths:
        tampered = json.loads(json.dumps(cert))
        node = tampered["certificate"]
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = node[path[-1]][:-1] + chr(ord(node[path[-1]][-1]) ^ 1)
        try:
            result = verify(tampered, key.public_key())
        except InputError as exc:
            problems = exc.problems
        else:
            problems = None
        if problems is not None:
            assert problems[0].startswith("certificate." + str(path[0])), (path, problems)
            continue
        assert not result.valid, path
        assert "altered" in result.problems[0]
        altered += 1
    assert altered > len(paths) - 4


def test_a_changed_artifact_another_key_or_the_expiry_fail(cert, key, artifact, tmp_path):
    artifact.write_bytes(b"the certified bytes!")
    assert "is not a certified artifact" in verify(cert, key.public_key(), artifact).problems[0]
    other = Ed25519PrivateKey.generate().public_key()
    assert any("not by the trusted key" in p for p in verify(cert, other).problems)
    later = datetime.now(UTC) + timedelta(days=400)
    assert any(p.startswith("expired on") for p in verify(cert, key.public_key(), now=later).problems)


def test_another_key_is_named_without_claiming_the_certificate_was_altered(cert, key, verdicts):
    other = Ed25519PrivateKey.generate()
    theirs = issue(verdicts, "debian12-x86_64", verdicts.targets["debian12-x86_64"], other, "Other Lab")
    result = verify(theirs, key.public_key())
    assert not result.valid
    assert result.problems == [
        f"signed by key {key_id(other.public_key())}, not by the trusted key {key_id(key.public_key())}: it was not "
        "issued with this lab's key (check it with the key of the lab that issued it: --key)"]
    assert result.other_key
    assert verify(theirs, other.public_key()).valid  # intact: it is simply another lab's
    theirs["certificate"]["verdict"] = "passed!"  # even altered, the key is the one problem named
    assert not any("altered" in p for p in verify(theirs, key.public_key()).problems)


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
    assert "signature: field required" in info.value.problems
    assert "certificate.format: field required" in info.value.problems
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "none.json")
    with pytest.raises(InputError, match="folder"):
        read(tmp_path)


# --- Fuzzing the structure: every malformed certificate is an InputError naming the field ---------

# Fields and what they must be: (path, a value of the wrong type for it).
WRONG = [None, 0, -1, 1.5, 10**30, 1e308, True, "", "x", [], ["x"], {}, {"x": 1}]
TYPED = {
    ("certificate",): dict, ("signature",): dict,
    ("certificate", "format"): "literal", ("certificate", "id"): str, ("certificate", "vendor"): str,
    ("certificate", "product"): dict, ("certificate", "product", "name"): str,
    ("certificate", "product", "version"): str,
    ("certificate", "artifacts"): list, ("certificate", "artifacts", 0): dict,
    ("certificate", "artifacts", 0, "path"): str, ("certificate", "artifacts", 0, "sha256"): "sha256",
    ("certificate", "target"): dict, ("certificate", "target", "name"): str,
    ("certificate", "target", "facts"): dict, ("certificate", "target", "facts", "arch"): "fact",
    ("certificate", "issued"): "date", ("certificate", "expires"): "date",
    ("signature", "algorithm"): "literal", ("signature", "key_id"): "key_id", ("signature", "value"): "base64",
}


def _dotted(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + p
    return out


def _accepts(path, value) -> bool:
    """Whether ``value`` is a right one at ``path`` (the fuzz skips those): a non-empty string where
    any string goes, no facts at all. Every other value in WRONG is wrong everywhere."""
    if TYPED[path] is str:
        return isinstance(value, str) and value != ""
    if TYPED[path] == "fact":
        return isinstance(value, str)
    return path[-1] == "facts" and value == {}


@pytest.mark.parametrize("path", list(TYPED), ids=_dotted)
def test_a_wrong_type_at_any_field_is_bad_input_naming_it(cert, key, path):
    for wrong in WRONG:
        if _accepts(path, wrong):
            continue
        doc = copy.deepcopy(cert)
        node = doc
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = wrong
        with pytest.raises(InputError) as info:
            verify(doc, key.public_key())
        assert any(p.startswith(_dotted(path)) for p in info.value.problems), (path, wrong, info.value.problems)


def test_missing_fields_and_unsigned_extras(cert, key):
    for path in TYPED:
        if TYPED[path] == "fact":
            continue  # which facts a target has is up to the target
        doc = copy.deepcopy(cert)
        node = doc
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]
        with pytest.raises(InputError) as info:
            parse(doc)
        name = _dotted(path) if not isinstance(path[-1], int) else _dotted(path[:-1])
        assert any(p.startswith(name) for p in info.value.problems), (path, info.value.problems)
    extra = copy.deepcopy(cert)
    extra["certificate"]["note"] = "a later format's field"  # content: kept, and signed
    assert not verify(extra, key.public_key()).valid
    extra = copy.deepcopy(cert)
    extra["approved"] = "for every target"  # outside the signed content: refused
    with pytest.raises(InputError, match="approved: unknown key"):
        parse(extra)


def test_truncated_lists_huge_numbers_and_bytes_that_are_not_json(cert, tmp_path):
    text = json.dumps(cert, indent=2, ensure_ascii=False)
    bad = [text[:n] for n in range(0, len(text) - 1, 37)]
    bad += [json.dumps([cert]), '"certificate"', "null", "42", "true", "[]", "{}", "",
            "1" * 5000,  # beyond Python's digits limit for int()
            '{"certificate": ' + "9" * 4000 + ', "signature": 1e999}',
            text.replace('"issued": "', '"issued": 1e999, "x": "', 1),
            text.replace('"Ed25519"', "NaN"),
            text.replace('"vendor": "', '"vendor": "\\ud800', 1),  # a lone surrogate
            text.replace('"vendor": ', '"vendor": "twice", "vendor": ', 1),
            "[" * 100_000 + "]" * 100_000]
    for i, body in enumerate(bad):
        with pytest.raises(InputError):
            parse(body, f"case {i}")
    for raw in (b"\xff\xfe" + text.encode("utf-16-le"), text.encode("latin-1", "replace") + b"\xe9\xff",
                b"\x00" * 64, b" " * (1 << 20) + b"{}"):
        path = tmp_path / "c.json"
        path.write_bytes(raw)
        with pytest.raises(InputError):
            read(path)
    doc = copy.deepcopy(cert)
    doc["certificate"]["expires"] = "2027-13-45"
    with pytest.raises(InputError, match=r"certificate\.expires: must be an ISO 8601 date"):
        parse(doc)
    doc["certificate"]["expires"] = "2027-01-01"  # a date alone is an ISO date (midnight UTC)
    assert parse(doc).certificate.expires == "2027-01-01"


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
    assert "is byte for byte a certified artifact" in ok.stdout and "not checked" not in ok.stdout
    path.write_text(json.dumps(cert).replace("debian12-x86_64", "debian13-x86_64"))
    bad = lab(str(path), "--key", str(pub))
    assert bad.returncode == 1 and "altered" in bad.stdout
    assert lab(str(tmp_path / "none.json"), "--key", str(pub)).returncode == 2


@pytest.fixture
def verify_cli(monkeypatch, capsys):
    """``lab certificate verify ARGS`` in this process (a subprocess costs seconds here): its exit
    code, stdout and stderr. An exception the CLI does not turn into an exit fails the test."""
    from lab.cli import main

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["lab", "certificate", "verify", *args])
        with pytest.raises(SystemExit) as info:
            main()
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, info.value.code, out, err)
    return run


def test_cli_says_your_file_was_not_checked_and_names_another_key(cert, key, verdicts, tmp_path, verify_cli):
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    pub = tmp_path / "lab.pub.pem"
    pub.write_bytes(public_pem(key.public_key()))
    ok = verify_cli(str(path), "--key", str(pub))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "your own file was not checked" in ok.stdout and "--artifact PATH" in ok.stdout
    # the command it suggests keeps the key given (a buyer has no lab key of their own: found by one)
    assert f"--key {pub} --artifact PATH" in " ".join(ok.stdout.split())
    other = Ed25519PrivateKey.generate()
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps(issue(verdicts, "debian12-x86_64", verdicts.targets["debian12-x86_64"], other, "X")))
    proc = verify_cli(str(theirs), "--key", str(pub))
    assert proc.returncode == 1
    assert f"signed by key {key_id(other.public_key())}, not by the trusted key {key_id(key.public_key())}" \
        in proc.stdout
    assert "altered" not in proc.stdout


def test_cli_prints_vendor_strings_literally(verdicts, key, tmp_path, verify_cli):
    sub = verdicts.submission.model_copy(update={"version": "1[/bogus]",
                                                 "vendor": "[bold red]EVIL[/] :smile: \x1b[31m"})
    odd = verdicts.model_copy(update={"submission": sub})
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(issue(odd, "debian12-x86_64", odd.targets["debian12-x86_64"], key, "Lab [i]x[/i]")))
    pub = tmp_path / "lab.pub.pem"
    pub.write_bytes(public_pem(key.public_key()))
    ok = verify_cli(str(path), "--key", str(pub))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "acme 1[/bogus] by [bold red]EVIL[/] :smile: \\x1b[31m on debian12-x86_64" in ok.stdout
    assert "Lab [i]x[/i]" in ok.stdout and "\x1b" not in ok.stdout
    path.write_text(path.read_text().replace("debian12-x86_64", "[/debian13]"))
    bad = verify_cli(str(path), "--key", str(pub))
    assert bad.returncode == 1 and "on [/debian13]" in bad.stdout and "Traceback" not in bad.stderr


def test_cli_malformed_files_exit_2_without_a_traceback(cert, key, tmp_path, verify_cli):
    pub = tmp_path / "lab.pub.pem"
    pub.write_bytes(public_pem(key.public_key()))
    wrong_type = copy.deepcopy(cert)
    wrong_type["certificate"]["product"]["version"] = 1.5
    cases = {"truncated": json.dumps(cert)[:200].encode(), "list": b"[1, 2]", "huge": b"9" * 6000,
             "binary": b"\xff\xd8\xff\xe0 not a certificate", "typed": json.dumps(wrong_type).encode(),
             "markup": json.dumps({"[/x]": 1}).encode()}
    for name, body in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(body)
        proc = verify_cli(str(path), "--key", str(pub))
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and str(path) in proc.stderr, (name, proc.stderr)
    typed = verify_cli(str(tmp_path / "typed.json"), "--key", str(pub))
    assert "certificate.product.version" in typed.stderr
    assert "[/x]: unknown key" in verify_cli(str(tmp_path / "markup.json"), "--key", str(pub)).stderr


# --- Checking a certificate without the lab (docs/buyers.md) -------------------------------------


@pytest.fixture
def buyer(tmp_path, verdicts, key):
    """A buyer's folder: the certificate, the lab's public key and the file received, as the docs name them."""
    folder = tmp_path / "buyer"
    folder.mkdir()
    deb = folder / "acme-hello_1.2.0_amd64.deb"
    deb.write_bytes(b"the certified bytes")  # the same bytes as the certified artifact
    (folder / "certificate.json").write_text(json.dumps(
        issue(verdicts, "debian12-x86_64", verdicts.targets["debian12-x86_64"], key, "Test Lab"), indent=2,
        ensure_ascii=False))
    (folder / "lab-signing-key.pub.pem").write_bytes(public_pem(key.public_key()))
    return folder


def _tamper(folder):
    path = folder / "certificate.json"
    path.write_text(path.read_text().replace('"glibc": "2.36"', '"glibc": "2.38"'))


def test_the_openssl_recipe_of_the_buyers_guide_verifies_for_real(buyer, key, verdicts):
    assert OPENSSL_RECIPE in (ROOT / "docs/buyers.md").read_text()
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", OPENSSL_RECIPE], cwd=buyer, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == key_id(key.public_key()).removeprefix("ed25519:")
    assert "Signature Verified Successfully" in proc.stdout
    digest = verdicts.submission.artifacts[0].sha256
    assert f"{digest} {verdicts.submission.artifacts[0].path}" in lines  # certified
    assert f"{digest}  acme-hello_1.2.0_amd64.deb" in lines  # and the buyer's file has that sha256
    _tamper(buyer)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", OPENSSL_RECIPE], cwd=buyer, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "Signature Verified Successfully" not in proc.stdout


@pytest.mark.skipif(not shutil.which("jq"), reason="jq is not installed")
def test_the_jq_variant_signs_the_same_bytes(buyer):
    doc = (ROOT / "docs/buyers.md").read_text()
    step2 = ["jq -cjS .certificate certificate.json > content.bin",
             "jq -r .signature.value certificate.json | base64 -d > signature.bin"]
    assert all(f"`{command}`" in doc for command in step2)
    verify = OPENSSL_RECIPE.splitlines()[-3]
    assert verify.startswith("openssl pkeyutl -verify")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join([*step2, verify])], cwd=buyer,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout, proc.stdout + proc.stderr


def test_the_python_recipe_of_the_buyers_guide_verifies_for_real(buyer):
    assert PYTHON_RECIPE in (ROOT / "docs/buyers.md").read_text()
    proc = subprocess.run([sys.executable, "-c", PYTHON_RECIPE], cwd=buyer, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("valid: "), proc.stdout + proc.stderr
    _tamper(buyer)
    proc = subprocess.run([sys.executable, "-c", PYTHON_RECIPE], cwd=buyer, capture_output=True, text=True)
    assert proc.returncode != 0 and "InvalidSignature" in proc.stderr
