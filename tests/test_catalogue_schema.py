"""The catalogue's schema: Alembic's migrations reach the models (and ``HEAD``), an older
catalogue is upgraded with its runs, a newer one or a mistyped URL is refused plainly."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from lab.catalogue.db import HEAD, alembic_config, open_catalogue
from lab.catalogue.models import Base, Run
from lab.submission.model import Product as ProductManifest

CATALOGUE_TABLES = {"products", "product_transfers", "product_versions", "runs", "artifacts", "results", "checks",
                    "certificates"}


@pytest.fixture
def engine(tmp_path):
    return open_catalogue(None, tmp_path / "catalogue.db")


def test_migrations_reach_head_and_create_every_table(engine, tmp_path):
    names = set(inspect(engine).get_table_names())
    assert {"products", "product_versions", "runs", "artifacts", "results", "checks", "certificates",
            "product_transfers"} <= names
    cfg = alembic_config(str(engine.url))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head == HEAD  # a new migration moves lab.catalogue.db.HEAD too, or catalogues stay unmigrated
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar() == head
    command.upgrade(cfg, "head")  # idempotent


def test_the_migrations_build_exactly_the_models_and_the_columns_hold_what_a_submission_may_say(engine):
    def catalogue_only(obj, name, type_, reflected, compare_to):  # other packages add tables of their own
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in CATALOGUE_TABLES

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": catalogue_only})
        assert compare_metadata(context, Base.metadata) == []
    columns = {t: {c["name"]: c["type"] for c in inspect(engine).get_columns(t)} for t in ("products",
                                                                                          "product_versions")}
    fields = ProductManifest.model_fields
    bound = {f: next(m.max_length for m in fields[f].metadata if hasattr(m, "max_length"))
             for f in ("name", "version", "vendor")}
    assert columns["products"]["name"].length == bound["name"]
    assert columns["products"]["vendor"].length == bound["vendor"]
    assert columns["product_versions"]["version"].length == bound["version"]


def test_upgrading_an_older_catalogue_keeps_its_runs_and_gives_them_their_vendor(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")  # a catalogue from before ownership, with a run in it
    raw = create_engine(url)
    with raw.begin() as conn:
        conn.execute(text("insert into products (id, name, vendor) values (1, 'acme', 'ACME')"))
        conn.execute(text("insert into product_versions (id, product_id, version) values (1, 1, '1.0')"))
        conn.execute(text("insert into runs (id, version_id, started, finished, harness, interrupted, folder) "
                          "values ('r1', 1, '', '2026-11-29T10:00:00', '', 0, '/nowhere')"))
    raw.dispose()
    engine = open_catalogue(url)
    with Session(engine) as s:
        assert s.get(Run, "r1").vendor == "ACME"
    command.downgrade(alembic_config(url), "0001")
    command.upgrade(alembic_config(url), "head")


def test_a_mistyped_catalogue_url_is_bad_input_naming_where_it_came_from(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lab", "catalogue", "publish", "--catalogue", "nonsense://x",
                        "--out", str(tmp_path / "site")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--catalogue" in r.stderr and "not a database URL" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "site").exists()


def test_a_catalogue_a_newer_lab_migrated_is_refused_plainly(engine, tmp_path):
    """Review: a revision this lab does not know raised Alembic's own error (a traceback)."""
    from lab.errors import InfrastructureError

    with engine.begin() as conn:
        conn.exec_driver_sql("update alembic_version set version_num = '0099'")
    with pytest.raises(InfrastructureError) as exc:
        open_catalogue(None, tmp_path / "catalogue.db")
    assert "newer" in str(exc.value)
