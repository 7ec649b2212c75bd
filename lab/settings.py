"""The service's settings: from the environment, or from a ``.env`` file in the working folder
that every ``lab`` command reads (``./labw serve`` writes it for one machine).

Example (``.env``)::

    LAB_DATABASE_URL=postgresql+psycopg://lab@127.0.0.1:5433/lab
    LAB_BROKER_URL=amqp://lab:secret@127.0.0.1:5673//
    LAB_STORAGE=/var/lib/adaptation-lab
    LAB_SERVICE_URL=http://127.0.0.1:8400
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB_", env_file=".env", extra="ignore")

    database_url: str = Field("sqlite:///reports/centre.db", description="SQLAlchemy URL; PostgreSQL in production")
    broker_url: str = Field("amqp://guest:guest@127.0.0.1:5672//", description="AMQP URL of RabbitMQ")
    storage: Path = Field(Path("reports/centre"), description="uploads and evidence, on the service host")
    service_url: str = Field("http://127.0.0.1:8400", description="where workers reach the API")
    inventory: Path = Field(Path("targets.toml"), description="the lab's inventory the service plans with")
    max_upload_bytes: int = Field(512 << 20, description="largest submission archive accepted")
    max_pending_per_org: int = Field(10, ge=1, le=10000,
                                     description="submissions one organisation may have queued or running at once")
    cell_attempts: int = Field(3, ge=1, le=10, description="attempts of a cell before it is broken for good")
    heartbeat_s: float = Field(15.0, gt=0, description="how often a worker says a running cell is alive")
    lost_after_s: float = Field(120.0, gt=0, description="a running cell with no heartbeat this long is lost")
    republish_after_s: float = Field(
        300.0, gt=0, description="a queued cell whose target queue is empty this long after its message was "
                                 "published is published again (a message the broker lost)")
    worker_token: SecretStr | None = Field(
        None, description="shared secret of the centre's workers: without it anyone who reaches the API could "
                          "claim a cell, read its submission and upload forged results for the service to sign")

    def worker_secret(self) -> str | None:
        """The workers' shared secret, or None when the centre has none."""
        value = self.worker_token.get_secret_value() if self.worker_token is not None else ""
        return value or None


def settings() -> Settings:
    return Settings()

