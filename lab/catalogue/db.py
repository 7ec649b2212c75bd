"""Opening the catalogue: SQLite at reports/catalogue.db by default, any SQLAlchemy URL by option,
always migrated to the newest schema by Alembic first."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from lab.errors import InfrastructureError

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


ENV = "LAB_CATALOGUE"


def open_for(inv, url: str | None = None) -> Engine:
    """The catalogue of an inventory: ``url`` (``--catalogue``), else ``$LAB_CATALOGUE``, else
    ``[lab] catalogue``, else reports/catalogue.db beside it."""
    return open_catalogue(url or os.environ.get(ENV) or inv.model.lab.catalogue,
                          inv.root / "reports" / "catalogue.db")


def open_catalogue(url: str | None = None, default_db: Path = DEFAULT) -> Engine:
    url = url_for(url, default_db)
    try:
        command.upgrade(alembic_config(url), "head")
        return create_engine(url)
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"the catalogue database {url.split('@')[-1]} is not usable: {exc}") from None
