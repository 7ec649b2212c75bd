"""the supply chain: imported vulnerability records and the certificates they affect

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("vulnerabilities",
                    sa.Column("id", sa.String(200), primary_key=True),
                    sa.Column("modified", sa.String(40), nullable=False),
                    sa.Column("summary", sa.Text(), nullable=False),
                    sa.Column("severity", sa.String(20), nullable=False),
                    sa.Column("aliases", sa.JSON(), nullable=False),
                    sa.Column("imported", sa.String(40), nullable=False),
                    sa.Column("source", sa.Text(), nullable=False))
    op.create_table("vulnerable_packages",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("vulnerability_id", sa.String(200),
                              sa.ForeignKey("vulnerabilities.id", ondelete="CASCADE"), nullable=False),
                    sa.Column("ecosystem", sa.String(100), nullable=False),
                    sa.Column("name", sa.String(300), nullable=False),
                    sa.Column("ranges", sa.JSON(), nullable=False),
                    sa.Column("versions", sa.JSON(), nullable=False))
    op.create_index("ix_vulnerable_packages_vulnerability_id", "vulnerable_packages", ["vulnerability_id"])
    op.create_index("ix_vulnerable_packages_name", "vulnerable_packages", ["name"])
    op.create_table("result_components",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("result_id", sa.Integer(), sa.ForeignKey("results.id", ondelete="CASCADE"),
                              nullable=False),
                    sa.Column("ecosystem", sa.String(100), nullable=False),
                    sa.Column("name", sa.String(300), nullable=False),
                    sa.Column("version", sa.String(300), nullable=False),
                    sa.Column("label", sa.String(300), nullable=False))
    op.create_index("ix_result_components_result_id", "result_components", ["result_id"])


def downgrade() -> None:
    op.drop_index("ix_result_components_result_id", "result_components")
    op.drop_table("result_components")
    op.drop_index("ix_vulnerable_packages_name", "vulnerable_packages")
    op.drop_index("ix_vulnerable_packages_vulnerability_id", "vulnerable_packages")
    op.drop_table("vulnerable_packages")
    op.drop_table("vulnerabilities")
