"""product ownership: transfers, the vendor of each run, column sizes as the submission bounds them

Revision ID: 0002
Revises: 0001

- ``product_transfers``: who gave a product to whom, when, done by which engineer;
- ``runs.vendor``: the vendor that submitted the run (filled from the product for older runs);
- ``artifacts.arch``: the artifact's architecture, as stated or as its file name says;
- names and versions are 128 characters (the submission's bound), vendors 400; a certificate id
  is ``RUN/TARGET`` (401); a check id is named by the vendor's own tests (text).
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product_transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('from_vendor', sa.String(length=400), nullable=False),
    sa.Column('to_vendor', sa.String(length=400), nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('products') as batch:
        batch.alter_column('name', existing_type=sa.String(length=200), type_=sa.String(length=128),
                           existing_nullable=False)
    with op.batch_alter_table('product_versions') as batch:
        batch.alter_column('version', existing_type=sa.String(length=100), type_=sa.String(length=128),
                           existing_nullable=False)
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('vendor', sa.String(length=400), nullable=True))
    op.execute("UPDATE runs SET vendor = (SELECT products.vendor FROM products JOIN product_versions "
               "ON product_versions.product_id = products.id WHERE product_versions.id = runs.version_id)")
    with op.batch_alter_table('artifacts') as batch:
        batch.add_column(sa.Column('arch', sa.String(length=128), nullable=True))
    with op.batch_alter_table('certificates') as batch:
        batch.alter_column('id', existing_type=sa.String(length=300), type_=sa.String(length=401),
                           existing_nullable=False)
    with op.batch_alter_table('checks') as batch:
        batch.alter_column('check_id', existing_type=sa.String(length=200), type_=sa.Text(),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('checks') as batch:
        batch.alter_column('check_id', existing_type=sa.Text(), type_=sa.String(length=200),
                           existing_nullable=False)
    with op.batch_alter_table('certificates') as batch:
        batch.alter_column('id', existing_type=sa.String(length=401), type_=sa.String(length=300),
                           existing_nullable=False)
    with op.batch_alter_table('artifacts') as batch:
        batch.drop_column('arch')
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('vendor')
    with op.batch_alter_table('product_versions') as batch:
        batch.alter_column('version', existing_type=sa.String(length=128), type_=sa.String(length=100),
                           existing_nullable=False)
    with op.batch_alter_table('products') as batch:
        batch.alter_column('name', existing_type=sa.String(length=128), type_=sa.String(length=200),
                           existing_nullable=False)
    op.drop_table('product_transfers')
