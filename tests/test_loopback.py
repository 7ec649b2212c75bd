"""Which addresses are this machine's alone (lab serve's --host, the PDF's buyers' address), and
that knowing it costs a ``lab`` command nothing: the CLI does not load the service's settings."""

import subprocess
import sys

import pytest

from lab.loopback import is_loopback


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_addresses(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "lab.example", "", "127.0.0.1.nip.io"])
def test_other_addresses_are_not(host):
    assert not is_loopback(host)


def test_the_cli_starts_without_the_services_settings():
    """Every ``lab`` command once paid 0.25 s for pydantic-settings through this one test."""
    code = ("import sys, lab.cli; "
            "print(sorted(m for m in ('pydantic_settings', 'sqlalchemy', 'weasyprint') if m in sys.modules))")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "[]"
