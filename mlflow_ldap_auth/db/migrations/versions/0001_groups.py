"""Mapped directory groups.

Revision ID: 0001_groups
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_groups"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ldap_auth_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_uuid", sa.String(64), nullable=False, unique=True),
        sa.Column("group_dn", sa.String(2048), nullable=False),
        sa.Column("display_name", sa.String(512), nullable=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade():
    op.drop_table("ldap_auth_groups")
