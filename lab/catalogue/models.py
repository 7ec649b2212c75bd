"""The catalogue's tables (SQLAlchemy 2). Their schema changes only through Alembic migrations."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lab.submission.model import LINE, SHORT

# The columns hold what a submission may say (lab.submission.model bounds it) and no more.
NAME_MAX = SHORT      # product name
VERSION_MAX = SHORT   # product version
VENDOR_MAX = LINE     # vendor
RUN_ID_MAX = 200      # "20261129-120301-" + the product name
TARGET_MAX = 200
CERTIFICATE_ID_MAX = RUN_ID_MAX + 1 + TARGET_MAX
HARNESS_MAX = 40      # the harness version; started and finished are ISO times of the same size


class Base(DeclarativeBase):
    pass


class Product(Base):
    """A product belongs to one vendor: runs by another vendor are refused until it is transferred."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    vendor: Mapped[str] = mapped_column(String(VENDOR_MAX))
    versions: Mapped[list[ProductVersion]] = relationship(back_populates="product")
    transfers: Mapped[list[ProductTransfer]] = relationship(back_populates="product",
                                                            order_by="ProductTransfer.id")


class ProductTransfer(Base):
    """A lab engineer gave a product to another vendor (``lab catalogue transfer``)."""

    __tablename__ = "product_transfers"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    from_vendor: Mapped[str] = mapped_column(String(VENDOR_MAX))
    to_vendor: Mapped[str] = mapped_column(String(VENDOR_MAX))
    at: Mapped[str] = mapped_column(String(40))
    by: Mapped[str] = mapped_column(String(200), default="")
    product: Mapped[Product] = relationship(back_populates="transfers")


class ProductVersion(Base):
    __tablename__ = "product_versions"
    __table_args__ = (UniqueConstraint("product_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    version: Mapped[str] = mapped_column(String(VERSION_MAX))
    product: Mapped[Product] = relationship(back_populates="versions")
    runs: Mapped[list[Run]] = relationship(back_populates="version")


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(RUN_ID_MAX), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("product_versions.id"))
    started: Mapped[str] = mapped_column(String(HARNESS_MAX))
    finished: Mapped[str] = mapped_column(String(HARNESS_MAX))
    harness: Mapped[str] = mapped_column(String(HARNESS_MAX))
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    folder: Mapped[str] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(String(VENDOR_MAX))  # who submitted it (the owner then)
    archive: Mapped[str | None] = mapped_column(String(80))  # <sha256>.tar.gz|.zip among the kept archives
    recertifies: Mapped[str | None] = mapped_column(String(RUN_ID_MAX))  # the run this one re-ran (recertify)
    recertify_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[ProductVersion] = relationship(back_populates="runs")
    artifacts: Mapped[list[Artifact]] = relationship(cascade="all, delete-orphan")
    results: Mapped[list[Result]] = relationship(back_populates="run", cascade="all, delete-orphan")


class Artifact(Base):
    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    arch: Mapped[str | None] = mapped_column(String(SHORT))  # as stated, else as its file name says


class Result(Base):
    """One target's verdict in one run."""

    __tablename__ = "results"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    target: Mapped[str] = mapped_column(String(TARGET_MAX))
    verdict: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    # When this target's result was made: its run's end, except for a target a rerun of the run's
    # broken ones did not run again (its result, kept, keeps its time). None: recorded before this.
    finished: Mapped[str | None] = mapped_column(String(HARNESS_MAX), nullable=True)
    run: Mapped[Run] = relationship(back_populates="results")
    checks: Mapped[list[CheckRow]] = relationship(cascade="all, delete-orphan")
    certificate: Mapped[Certificate | None] = relationship(cascade="all, delete-orphan", uselist=False)
    components: Mapped[list[ResultComponent]] = relationship(cascade="all, delete-orphan")  # from its SBOM

    @property
    def made(self) -> tuple[str, str]:
        """Its place among the results of the same cell, oldest first: when it was made, then its run."""
        return (self.finished or self.run.finished or "", self.run.id)


class CheckRow(Base):
    __tablename__ = "checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"))
    check_id: Mapped[str] = mapped_column(Text)  # a vendor's test names it: unbounded
    outcome: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    message: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    waiver: Mapped[dict | None] = mapped_column(JSON)  # a waived check's {reason, reviewer, expires}


class Certificate(Base):
    __tablename__ = "certificates"
    id: Mapped[str] = mapped_column(String(CERTIFICATE_ID_MAX), primary_key=True)  # RUN/TARGET
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id"))
    key_id: Mapped[str] = mapped_column(String(80))
    issued: Mapped[str] = mapped_column(String(40))
    expires: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict] = mapped_column(JSON)
    recipe_sha256: Mapped[str | None] = mapped_column(String(64))   # the target image's recipe, when issued
    suites_version: Mapped[str | None] = mapped_column(String(64))  # lab.suite.registry.suites_version()
    basis: Mapped[dict | None] = mapped_column(JSON)                 # the certificate's issued_on


# -- the supply chain (migration 0005) -------------------------------------------------------------
VULN_ID_MAX = 200
ECOSYSTEM_MAX = 100
COMPONENT_MAX = 300


class Vulnerability(Base):
    """One imported OSV record (``lab vulns import``); importing it again replaces it."""

    __tablename__ = "vulnerabilities"
    id: Mapped[str] = mapped_column(String(VULN_ID_MAX), primary_key=True)
    modified: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(20))  # low | medium | high | critical | unknown
    aliases: Mapped[list] = mapped_column(JSON, default=list)
    imported: Mapped[str] = mapped_column(String(40))  # when, ISO: "new since a certificate" is later
    source: Mapped[str] = mapped_column(Text, default="")  # the file it came from


class VulnerablePackage(Base):
    """One ``affected[]`` entry of a record: a package of an ecosystem, its ranges and versions."""

    __tablename__ = "vulnerable_packages"
    id: Mapped[int] = mapped_column(primary_key=True)
    vulnerability_id: Mapped[str] = mapped_column(ForeignKey("vulnerabilities.id", ondelete="CASCADE"), index=True)
    ecosystem: Mapped[str] = mapped_column(String(ECOSYSTEM_MAX))
    name: Mapped[str] = mapped_column(String(COMPONENT_MAX), index=True)
    ranges: Mapped[list] = mapped_column(JSON, default=list)
    versions: Mapped[list] = mapped_column(JSON, default=list)


class ResultComponent(Base):
    """A component a recorded target result installed, from its SBOM: matched against later imports."""

    __tablename__ = "result_components"
    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    ecosystem: Mapped[str] = mapped_column(String(ECOSYSTEM_MAX))
    name: Mapped[str] = mapped_column(String(COMPONENT_MAX))
    version: Mapped[str] = mapped_column(String(COMPONENT_MAX))
    label: Mapped[str] = mapped_column(String(COMPONENT_MAX), default="")  # as a buyer reads it
