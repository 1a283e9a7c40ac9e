"""prices.per_character: price of translated text per 1M characters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000

Written by hand; ``batch_alter_table`` so SQLite (which cannot ALTER every column) takes the same
migration as PostgreSQL and MySQL. The column is nullable: existing prices stay token-only.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("per_character", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_column("per_character")
