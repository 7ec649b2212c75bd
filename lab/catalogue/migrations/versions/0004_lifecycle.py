"""a product's life: kept submission archives, certificate validity and history, waivers shown

- ``runs.archive``: the submission's archive as the catalogue keeps it, content-addressed
  (``<sha256>.tar.gz`` or ``<sha256>.zip`` in the archives folder beside the catalogue), so the
  lab can run it again (``lab recertify``); ``runs.recertifies`` / ``runs.recertify_reason``: the
  run this one re-ran, and why;
- ``checks.waiver``: the waiver a waived check carries (reason, reviewer, expires);
- ``certificates.recipe_sha256`` / ``suites_version`` / ``basis``: what a certificate was issued on
  (the image recipe's hash or a board's OS facts, and the suites' version), compared by recertify.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("archive", sa.String(80), nullable=True))
        batch.add_column(sa.Column("recertifies", sa.String(200), nullable=True))
        batch.add_column(sa.Column("recertify_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("checks") as batch:
        batch.add_column(sa.Column("waiver", sa.JSON(), nullable=True))
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("recipe_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("suites_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("basis", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("basis")
        batch.drop_column("suites_version")
        batch.drop_column("recipe_sha256")
    with op.batch_alter_table("checks") as batch:
        batch.drop_column("waiver")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("recertify_reason")
        batch.drop_column("recertifies")
        batch.drop_column("archive")
