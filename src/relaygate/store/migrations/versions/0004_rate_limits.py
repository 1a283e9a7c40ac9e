"""rate limits: rpm_limit and tpm_limit on users and api_keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 12:00:00.000000

Written by hand, with ``batch_alter_table`` as 0003 so SQLite takes it too. Both columns are
nullable and default to NULL, which means unlimited: existing users and keys keep working as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("users", "api_keys")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("rpm_limit", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("tpm_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("tpm_limit")
            batch_op.drop_column("rpm_limit")
