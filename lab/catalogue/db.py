"""Opening the catalogue: SQLite at reports/catalogue.db by default, any SQLAlchemy URL by option,
always at the newest schema: Alembic migrates it first, unless it already is at ``HEAD`` (one
query), which spares each ``lab run`` loading Alembic and its scripts twice (half a second before
the first worker could start)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from lab.catalogue import ENV
from lab.errors import InfrastructureError, InputError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0009"  # the newest migration's revision (tests/test_catalogue_schema.py checks it is Alembic's head)
DEFAULT = Path("reports") / "catalogue.db"


def url_for(url: str | None, default_db: Path = DEFAULT) -> str:
    if url:
        return url
    default_db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{default_db.resolve()}"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def open_for(inv, url: str | None = None) -> Engine:
    """The catalogue of an inventory: ``url`` (``--catalogue``), else ``$LAB_CATALOGUE``, else
    ``[lab] catalogue``, else reports/catalogue.db beside it."""
    source = ("--catalogue" if url else f"${ENV}" if os.environ.get(ENV)
              else f"{inv.path.name} [lab] catalogue")
    return open_catalogue(url or os.environ.get(ENV) or inv.model.lab.catalogue,
                          inv.root / "reports" / "catalogue.db", source=source)


def open_catalogue(url: str | None = None, default_db: Path = DEFAULT, source: str = "--catalogue") -> Engine:
    """Migrated to the newest schema; ``InputError`` for a URL that names no database SQLAlchemy
    knows (a typo is bad input, not the lab's fault), ``InfrastructureError`` when it cannot be used."""
    url = url_for(url, default_db)
    try:
        make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise InputError(source, [f"{url.split('@')[-1]!r} is not a database URL SQLAlchemy knows "
                                         f"(e.g. sqlite:///reports/catalogue.db, postgresql+psycopg://...): {exc}"]
                         ) from None
    try:
        engine = create_engine(url)
        if not at_head(engine):
            from alembic import command
            from alembic.util.exc import CommandError

            try:
                command.upgrade(alembic_config(url), "head")
            except CommandError as exc:  # a revision this lab does not know: a newer lab wrote it
                raise InfrastructureError(f"the catalogue database {url.split('@')[-1]} cannot be migrated by this "
                                          f"version of the lab (written by a newer one?): {exc}") from None
        return engine
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the catalogue database {url.split('@')[-1]} is not usable: {exc}") from None


def at_head(engine: Engine) -> bool:
    """Whether the database records the newest migration (False for a new or older one)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    except SQLAlchemyError:  # no alembic_version table yet: a new catalogue
        return False
