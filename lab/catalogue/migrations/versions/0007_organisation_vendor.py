"""the centre: the vendor name an organisation certifies under (its uploads must name it)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("vendor", sa.String(400), nullable=True))
        batch.create_unique_constraint("uq_organisations_vendor", ["vendor"])


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_constraint("uq_organisations_vendor", type_="unique")
        batch.drop_column("vendor")
