"""The catalogue's tables (SQLAlchemy 2). Their schema changes only through Alembic migrations."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    vendor: Mapped[str] = mapped_column(String(400))
    versions: Mapped[list[ProductVersion]] = relationship(back_populates="product")


class ProductVersion(Base):
    __tablename__ = "product_versions"
    __table_args__ = (UniqueConstraint("product_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    version: Mapped[str] = mapped_column(String(100))
    product: Mapped[Product] = relationship(back_populates="versions")
    runs: Mapped[list[Run]] = relationship(back_populates="version")


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("product_versions.id"))
    started: Mapped[str] = mapped_column(String(40))
    finished: Mapped[str] = mapped_column(String(40))
    harness: Mapped[str] = mapped_column(String(40))
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    folder: Mapped[str] = mapped_column(Text)
    version: Mapped[ProductVersion] = relationship(back_populates="runs")
    artifacts: Mapped[list[Artifact]] = relationship(cascade="all, delete-orphan")
    results: Mapped[list[Result]] = relationship(back_populates="run", cascade="all, delete-orphan")


class Artifact(Base):
    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))


class Result(Base):
    """One target's verdict in one run."""

    __tablename__ = "results"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    target: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    run: Mapped[Run] = relationship(back_populates="results")
    checks: Mapped[list[CheckRow]] = relationship(cascade="all, delete-orphan")
    certificate: Mapped[Certificate | None] = relationship(cascade="all, delete-orphan", uselist=False)


class CheckRow(Base):
    __tablename__ = "checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"))
    check_id: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    message: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)


class Certificate(Base):
    __tablename__ = "certificates"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"))
    key_id: Mapped[str] = mapped_column(String(80))
    issued: Mapped[str] = mapped_column(String(40))
    expires: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict] = mapped_column(JSON)
