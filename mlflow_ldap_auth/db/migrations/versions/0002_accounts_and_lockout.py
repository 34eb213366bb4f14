"""Known directory users (provisioned or adopted) and the password-spraying counters.

Revision ID: 0002_accounts_and_lockout
Revises: 0001_groups
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_accounts_and_lockout"
down_revision = "0001_groups"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ldap_auth_users",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ldap_auth_login_accounts",
        sa.Column("account", sa.String(512), primary_key=True),
        sa.Column("touched_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ldap_auth_login_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(512), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ldap_auth_login_attempts_account", "ldap_auth_login_attempts", ["account"])


def downgrade():
    op.drop_index("ix_ldap_auth_login_attempts_account", "ldap_auth_login_attempts")
    op.drop_table("ldap_auth_login_attempts")
    op.drop_table("ldap_auth_login_accounts")
    op.drop_table("ldap_auth_users")
