"""Access tokens and the per-user directory checks (docs/tokens.md).

Revision ID: 0003_tokens_and_user_checks
Revises: 0002_accounts_and_lockout
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_tokens_and_user_checks"
down_revision = "0002_accounts_and_lockout"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ldap_auth_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
    )
    op.create_index("ix_ldap_auth_tokens_owner", "ldap_auth_tokens", ["owner"])
    op.create_table(
        "ldap_auth_user_checks",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("checked_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("password_marker", sa.String(64), nullable=True),
        sa.Column("claimed_until", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(32), nullable=True),
    )


def downgrade():
    op.drop_table("ldap_auth_user_checks")
    op.drop_index("ix_ldap_auth_tokens_owner", "ldap_auth_tokens")
    op.drop_table("ldap_auth_tokens")
