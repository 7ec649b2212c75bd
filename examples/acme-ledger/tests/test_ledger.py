"""ACME's own test: the lab hands the run's database to the product through DB_* variables."""

import os


def test_the_lab_gives_us_a_database():
    assert os.environ["DB_ENGINE"] in ("postgresql", "mysql")
    assert os.environ["DB_NAME"].startswith("lab_") and os.environ["DB_PASSWORD"]


def test_the_cli_is_installed(host):
    assert host.run("acme-ledger --version").stdout.strip() == "acme-ledger 2.0.0"
