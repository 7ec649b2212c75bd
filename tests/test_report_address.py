"""Where the PDF sends a buyer to verify a certificate: never to this machine's own address (a
buyer found a QR code leading to 127.0.0.1), and to the certificate's page as the site names it."""

from __future__ import annotations

import json

import pytest

from lab.inventory.model import LabSettings
from lab.report.pdf import certificate_of, site_address
from lab.text import slug_of


@pytest.mark.parametrize(("service", "expected"), [
    ("http://127.0.0.1:8400", None), ("http://localhost:8400", None), ("http://[::1]:8400", None),
    ("https://lab.example.cn", "https://lab.example.cn")])
def test_the_services_own_address_is_the_buyers_only_when_it_is_not_loopback(monkeypatch, service, expected):
    monkeypatch.delenv("LAB_SITE_URL", raising=False)
    monkeypatch.setenv("LAB_SERVICE_URL", service)
    assert site_address(LabSettings(name="Lab")) == expected


def test_a_configured_site_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("LAB_SERVICE_URL", "http://127.0.0.1:8400")
    monkeypatch.setenv("LAB_SITE_URL", "https://buyers.example.cn")
    assert site_address(LabSettings(name="Lab")) == "https://buyers.example.cn"
    assert site_address(LabSettings(name="Lab", site_url="https://lab.example.cn/")) == "https://lab.example.cn/"


def test_the_certificate_link_is_the_published_pages(tmp_path):
    run = "20261201-120000-acme+calc"
    (tmp_path / "certificates").mkdir()
    (tmp_path / "certificates" / "debian12-x86_64.json").write_text(json.dumps(
        {"certificate": {"id": "c1", "run": run}, "signature": {"key_id": "k"}}))
    cert = certificate_of(tmp_path, "debian12-x86_64", "https://lab.example.cn")
    assert cert["url"] == f"https://lab.example.cn/certificates/{slug_of(run)}/debian12-x86_64.html"
    assert cert["qr"].startswith("data:image/") and certificate_of(tmp_path, "debian12-x86_64", None)["qr"] is None
