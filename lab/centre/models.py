"""The service's tables, beside the catalogue's in the same database (one Alembic history).

- ``organisations``: vendors; ``users``: portal accounts (a vendor's, or an engineer);
- ``api_tokens``: bearer tokens, stored only as their sha256; revoked at once;
- ``submissions``: what a vendor uploaded, planned on its claimed targets;
- ``cells``: the ledger, one row per submission x target x attempt, the only place a cell's state
  lives. A cell's current attempt is its highest; only that attempt's credential may finish it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lab.catalogue.models import Base


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(400), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The vendor name its submissions must give (``[product] vendor``), set by an engineer; None:
    # the organisation's name. Unique: no organisation certifies under another's name (migration 0007).
    vendor: Mapped[str | None] = mapped_column(String(400), unique=True, nullable=True)

    @property
    def vendor_name(self) -> str:
        return self.vendor or self.name


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    engineer: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    org: Mapped[Organisation | None] = relationship()
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # in a row
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    signed_out: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # shown to the admin, part of the token
    secret_sha256: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)  # an engineer's
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    org: Mapped[Organisation | None] = relationship()
    user: Mapped[User | None] = relationship()


class Submission(Base):
    __tablename__ = "submissions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # a uuid4: not guessable
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    product: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    vendor: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str] = mapped_column(String(200))
    archive_sha256: Mapped[str] = mapped_column(String(64))
    artifacts: Mapped[list] = mapped_column(JSON, default=list)  # [{"path", "sha256"}]
    suites: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | finished
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    org: Mapped[Organisation] = relationship()
    cells: Mapped[list[Cell]] = relationship(back_populates="submission", order_by="Cell.id")


class Cell(Base):
    """One attempt of one target of one submission."""

    __tablename__ = "cells"
    __table_args__ = (UniqueConstraint("submission_id", "target", "attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"))
    target: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|passed|failed|broken|skipped
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    credential_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # when the sweep last published its message again (a message the broker lost); None: only at queueing
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    results: Mapped[str | None] = mapped_column(Text, nullable=True)  # folder under the storage
    submission: Mapped[Submission] = relationship(back_populates="cells")


class Worker(Base):
    """A lab host's worker, as it last said it was: for the engineers' console."""

    __tablename__ = "workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    targets: Mapped[list] = mapped_column(JSON, default=list)
    slots: Mapped[int] = mapped_column(Integer, default=1)
    heartbeat: Mapped[datetime] = mapped_column(DateTime(timezone=True))
