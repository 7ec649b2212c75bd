"""The lab reaches only the networks its configuration allows; names are not even resolved while
only loopback is allowed (a DNS query is traffic too)."""

from __future__ import annotations

import socket

import pytest

from lab.errors import InfrastructureError
from lab.transport.ssh import check_allowed


@pytest.fixture
def no_dns(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a DNS lookup was attempted: {args}")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_loopback_literals_pass_without_lookup(no_dns):
    check_allowed("127.0.0.1", ["127.0.0.0/8"])
    check_allowed("localhost", ["127.0.0.0/8"])


@pytest.mark.parametrize("host", ["10.1.2.3", "172.16.0.9", "192.168.1.10", "203.0.113.7"])
def test_other_addresses_are_refused(no_dns, host):
    with pytest.raises(InfrastructureError, match=r"not in \[lab\]\.allowed_networks"):
        check_allowed(host, ["127.0.0.0/8"])


def test_names_are_not_resolved_while_only_loopback_is_allowed(no_dns):
    with pytest.raises(InfrastructureError, match=r"refusing to look up kylin\.boards\.lab\.example"):
        check_allowed("kylin.boards.lab.example", ["127.0.0.0/8", "::1/128"])


def test_a_centre_that_allows_its_board_network_may_use_names(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("10.20.0.5", 22))])
    check_allowed("kylin.boards.lab.example", ["127.0.0.0/8", "10.20.0.0/24"])
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("10.99.0.5", 22))])
    with pytest.raises(InfrastructureError, match="not in"):
        check_allowed("kylin.boards.lab.example", ["127.0.0.0/8", "10.20.0.0/24"])
