"""prices per image / per second; upstream_objects (owners of files, fine-tuning jobs, fine-tuned models)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:00:00.000000

Written by hand; ``batch_alter_table`` so SQLite (which cannot ALTER every column) takes the same
migration as PostgreSQL and MySQL. The new price columns are nullable: existing prices stay
token-only. Speech reuses 0002's ``per_character``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("per_image", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("image_prices", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("per_second", sa.BigInteger(), nullable=True))
    op.create_table(
        "upstream_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=191), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_id"),
    )
    with op.batch_alter_table("upstream_objects", schema=None) as batch_op:
        batch_op.create_index("ix_upstream_objects_owner", ["user_id", "kind", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("upstream_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_upstream_objects_owner")
    op.drop_table("upstream_objects")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_column("per_second")
        batch_op.drop_column("image_prices")
        batch_op.drop_column("per_image")
