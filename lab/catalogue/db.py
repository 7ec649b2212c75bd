"""Opening the catalogue: SQLite at reports/catalogue.db by default, any SQLAlchemy URL by option,
always migrated to the newest schema by Alembic first."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from lab.catalogue import ENV
from lab.errors import InfrastructureError, InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT = Path("reports") / "catalogue.db"


def url_for(url: str | None, default_db: Path = DEFAULT) -> str:
    if url:
        return url
    default_db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{default_db.resolve()}"


def alembic_config(url: str) -> Config:
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
        command.upgrade(alembic_config(url), "head")
        return create_engine(url)
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the catalogue database {url.split('@')[-1]} is not usable: {exc}") from None
