"""A dishonest vendor's strings on the pages people read: the PDF report, certificates, the buyers' site.

Review findings: a right-to-left override in an artifact's file name or a test's message was obeyed
by WeasyPrint and browsers (``acme_\\u202e0.9.0_all.deb`` read ``acme_bed.lla_0.9.0``, ``\\u202edessap``
read ``passed``); vendor names differing only by a trailing space, an invisible filler or one Cyrillic
letter were accepted and drawn alike; and WeasyPrint's default fetcher would read ``file://`` URLs.
"""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from lab import i18n
from lab.results.model import ArtifactRef, Check, Outcome, SubmissionRef, TargetResult, Verdicts
from lab.submission.model import Artifact, Product
from lab.text import visible

RLO = "\u202e"
TRUE_NAME = f"acme_{RLO}0.9.0_all.deb"       # a reader sees acme_bed.lla_0.9.0
MESSAGE = f"\x1b[32mPASSED\x1b[0m {RLO}dessap </pre><img src=\"file:///etc/passwd\">"  # reads "... passed"


def _verdicts() -> Verdicts:
    check = Check(id="vendor.tests/test_x.py::test_x", outcome=Outcome.FAILED, message=MESSAGE)
    return Verdicts(run="20261201-000000-acme", submission=SubmissionRef(
        name="acme", version="1.0", vendor="ACME", artifacts=[ArtifactRef(path=TRUE_NAME, sha256="0" * 64)]),
        targets={"debian12-x86_64": TargetResult(verdict=Outcome.FAILED, reason=f"{check.id}: {MESSAGE}",
                                                 checks=[check])})


def test_an_artifact_name_with_a_bidi_override_or_an_escape_is_refused():
    for path in (TRUE_NAME, "acme\x1b[32m.deb", "acme\u200b.deb"):
        with pytest.raises(ValidationError, match="printable"):
            Artifact(path=path)
    assert Artifact(path="acme_0.9.0_all.deb").path == "acme_0.9.0_all.deb"


@pytest.mark.parametrize(("vendor", "why"), [
    ("ACME Software Co., Ltd. ", "space"),               # a page trims it
    ("ACME  Software Co., Ltd.", "space"),               # ... and collapses this
    ("ACME Software Co., Ltd.\u3164", "U+3164"),         # Hangul filler: printable, drawn as nothing
    ("ACME Software Co.,\u2800Ltd.", "U+2800"),          # the blank Braille cell
    ("ACME Software Co., Ltd.\u034f", "U+034F"),         # combining grapheme joiner
    ("ACM\u0415 Software Co., Ltd.", "mixes Cyrillic and Latin"),
])
def test_a_vendor_name_drawn_like_another_is_refused(vendor, why):
    with pytest.raises(ValidationError, match=re.escape(why)):
        Product(name="acme-calc2", version="1.0", vendor=vendor)


YANDEX = "\u041e\u041e\u041e \u042f\u043d\u0434\u0435\u043a\u0441 (Yandex LLC)"  # Cyrillic words beside Latin ones


@pytest.mark.parametrize("vendor", ["ACME Software Co., Ltd.", "麒麟软件有限公司 (Kylin Software)",
                                    "Müller & Söhne GmbH", YANDEX])
def test_real_vendor_names_in_any_script_are_kept(vendor):
    assert Product(name="acme", version="1.0", vendor=vendor).vendor == vendor


def test_visible_writes_out_what_a_page_would_obey_and_keeps_layout():
    assert visible(f"a{RLO}b\x1b[0m\u200b") == "a\\u202eb\\x1b[0m\\u200b"
    assert visible("两行\n\tok\r\n") == "两行\n\tok\r\n"


def test_the_report_shows_hidden_characters_instead_of_obeying_them(tmp_path):
    from lab.inventory.model import LabSettings
    from lab.report.pdf import report_html

    page = report_html(tmp_path, _verdicts(), LabSettings(name="Lab", languages=["en"]), site_url="")
    assert RLO not in page and "\x1b" not in page
    assert "acme_\\u202e0.9.0_all.deb" in page and "\\u202edessap" in page and "\\x1b[32mPASSED" in page
    assert "&lt;img src=" in page and '<img src="file' not in page  # still escaped, once


def test_a_translated_sentence_with_a_vendor_argument_is_escaped_once_and_shown():
    from lab.certs.render import ENV

    page = i18n.render(ENV, ENV.from_string('{{ _("by %(vendor)s", vendor=v) }}'), "en", v=f"<b>{RLO}x")
    assert page == "by &lt;b&gt;\\u202ex"


def test_a_certificate_page_shows_a_bidi_override_it_was_signed_with():
    """A certificate signed before names were checked keeps its name: the page writes the override out."""
    from lab.certs.render import certificate_html

    cert = {"certificate": {"id": "c1", "product": {"name": "acme", "version": "1.0"}, "vendor": "ACME",
                            "target": {"name": "debian12-x86_64", "facts": {}}, "verdict": "passed",
                            "lab": "Lab", "harness": {"name": "adaptation-lab", "version": "0.1"}, "run": "r1",
                            "issued": "2026-12-01T00:00:00+00:00", "expires": "2099-12-01T00:00:00+00:00",
                            "artifacts": [{"path": TRUE_NAME, "sha256": "0" * 64}], "suites": [], "checks": []},
            "signature": {"algorithm": "ed25519", "key_id": "ed25519:0", "value": ""}}
    page = certificate_html(cert, "debian12-x86_64.json", lang="en")
    assert RLO not in page and "acme_\\u202e0.9.0_all.deb" in page


def test_the_pdf_fetches_data_uris_only():
    """WeasyPrint's own fetcher reads file:// (a page naming /etc/passwd or the signing key would
    have it in the PDF); the report's refuses every scheme but data:."""
    from lab.report.weasy import data_only_fetcher

    fetcher = data_only_fetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.css", "ftp://127.0.0.1/x"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(url)
    response = fetcher.fetch("data:text/plain;base64,b2s=")  # screenshots and the QR code are data: URIs
    try:
        assert response.read() == b"ok"
    finally:
        response.close()


def test_allures_results_have_their_hidden_characters_written_out(tmp_path):
    """Review: a vendor test's message ``\\u202edessap`` was drawn as "passed" in Allure's page."""
    import json

    from lab.report.allure_visible import make_visible

    result = {"name": "test_x", "status": "failed", "statusDetails": {"message": "\u202edessap", "trace": "ok\n"},
              "parameters": [{"name": "n", "value": "a\x1b[32mPASSED"}], "labels": [{"name": "suite", "value": "v"}]}
    (tmp_path / "a-result.json").write_text(json.dumps(result))
    (tmp_path / "b-attachment.txt").write_text("line 1\n\u202edessap\tend\n")
    (tmp_path / "c-attachment.json").write_text(json.dumps({"out": "\u200bacme"}))
    plain = {"name": "test_y", "status": "passed", "statusDetails": {"message": "测试 fine\n"}}
    (tmp_path / "d-result.json").write_text(json.dumps(plain))
    before = (tmp_path / "d-result.json").stat().st_mtime_ns
    (tmp_path / "e-attachment.png").write_bytes(b"\x89PNG\x1b\u202e".decode("latin-1").encode("latin-1"))
    assert make_visible(tmp_path) == 3
    shown = json.loads((tmp_path / "a-result.json").read_text())
    assert shown["statusDetails"] == {"message": "\\u202edessap", "trace": "ok\n"}
    assert shown["parameters"][0]["value"] == "a\\x1b[32mPASSED" and shown["labels"] == result["labels"]
    assert (tmp_path / "b-attachment.txt").read_text() == "line 1\n\\u202edessap\tend\n"
    assert json.loads((tmp_path / "c-attachment.json").read_text()) == {"out": "\\u200bacme"}
    assert (tmp_path / "d-result.json").stat().st_mtime_ns == before  # plain: not rewritten
    assert make_visible(tmp_path) == 0  # and nothing left to do


def test_a_large_text_attachment_has_its_hidden_characters_written_out_too(tmp_path, monkeypatch):
    """Review: an attachment over 8 MiB (the target's whole command log can be) was skipped, its
    U+202E left to Allure's page. It is read and written in pieces now, whatever its size."""
    from lab.report import allure_visible

    monkeypatch.setattr(allure_visible, "CHUNK", 1000)  # pieces of 1000 bytes: a character split across two
    body = ("界" * 600 + "\n") * 5 + "\u202edessap\n" + "tail \xff\n"
    (tmp_path / "log-attachment.txt").write_bytes(body.encode("utf-8").replace("\xff".encode(), b"\xff"))
    assert allure_visible.make_visible(tmp_path) == 1
    shown = (tmp_path / "log-attachment.txt").read_text(encoding="utf-8")
    assert shown == ("界" * 600 + "\n") * 5 + "\\u202edessap\n" + "tail \ufffd\n"
