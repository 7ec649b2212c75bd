"""the centre as a service: organisations, users, API tokens, submissions, the cell ledger, workers

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("organisations",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("name", sa.String(400), nullable=False, unique=True),
                    sa.Column("created", TS, nullable=False))
    op.create_table("users",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("email", sa.String(320), nullable=False, unique=True),
                    sa.Column("password_hash", sa.String(200), nullable=False),
                    sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=True),
                    sa.Column("engineer", sa.Boolean(), nullable=False),
                    sa.Column("created", TS, nullable=False))
    op.create_table("api_tokens",
                    sa.Column("id", sa.String(40), primary_key=True),
                    sa.Column("secret_sha256", sa.String(64), nullable=False),
                    sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=True),
                    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
                    sa.Column("created", TS, nullable=False),
                    sa.Column("expires", TS, nullable=True),
                    sa.Column("revoked", TS, nullable=True))
    op.create_table("submissions",
                    sa.Column("id", sa.String(40), primary_key=True),
                    sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
                    sa.Column("product", sa.String(128), nullable=False),
                    sa.Column("version", sa.String(128), nullable=False),
                    sa.Column("vendor", sa.String(400), nullable=False),
                    sa.Column("run_id", sa.String(200), nullable=False),
                    sa.Column("archive_sha256", sa.String(64), nullable=False),
                    sa.Column("artifacts", sa.JSON(), nullable=False),
                    sa.Column("suites", sa.JSON(), nullable=False),
                    sa.Column("state", sa.String(20), nullable=False),
                    sa.Column("published", sa.Boolean(), nullable=False),
                    sa.Column("published_by", sa.String(320), nullable=True),
                    sa.Column("created", TS, nullable=False),
                    sa.Column("finished", TS, nullable=True))
    op.create_index("ix_submissions_org", "submissions", ["org_id", "created"])
    op.create_table("cells",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("submission_id", sa.String(40), sa.ForeignKey("submissions.id"), nullable=False),
                    sa.Column("target", sa.String(200), nullable=False),
                    sa.Column("attempt", sa.Integer(), nullable=False),
                    sa.Column("state", sa.String(20), nullable=False),
                    sa.Column("worker", sa.String(200), nullable=True),
                    sa.Column("credential_sha256", sa.String(64), nullable=True),
                    sa.Column("queued_at", TS, nullable=False),
                    sa.Column("started_at", TS, nullable=True),
                    sa.Column("heartbeat", TS, nullable=True),
                    sa.Column("finished_at", TS, nullable=True),
                    sa.Column("reason", sa.Text(), nullable=False),
                    sa.Column("results", sa.Text(), nullable=True),
                    sa.UniqueConstraint("submission_id", "target", "attempt"))
    op.create_index("ix_cells_state", "cells", ["state"])
    op.create_table("workers",
                    sa.Column("name", sa.String(200), primary_key=True),
                    sa.Column("targets", sa.JSON(), nullable=False),
                    sa.Column("slots", sa.Integer(), nullable=False),
                    sa.Column("heartbeat", TS, nullable=False))


def downgrade() -> None:
    for table in ("workers", "cells", "submissions", "api_tokens", "users", "organisations"):
        op.drop_table(table)
