"""The spraying guard's attempts expire by row; both of its tables are purged by index.

Each attempt carries its own expiry (an account's window depends on the directory's
policy for it). Attempts counted before this revision get expiry 0: they stop counting
at once.

Revision ID: 0005_lockout_expiry
Revises: 0004_audit
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_lockout_expiry"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ldap_auth_login_attempts") as batch:
        batch.add_column(
            sa.Column("expires_at_ms", sa.BigInteger, nullable=False, server_default="0")
        )
    op.create_index(
        "ix_ldap_auth_login_attempts_expires_at_ms", "ldap_auth_login_attempts", ["expires_at_ms"]
    )
    op.create_index(
        "ix_ldap_auth_login_accounts_touched_at_ms", "ldap_auth_login_accounts", ["touched_at_ms"]
    )


def downgrade():
    op.drop_index("ix_ldap_auth_login_accounts_touched_at_ms", "ldap_auth_login_accounts")
    op.drop_index("ix_ldap_auth_login_attempts_expires_at_ms", "ldap_auth_login_attempts")
    with op.batch_alter_table("ldap_auth_login_attempts") as batch:
        batch.drop_column("expires_at_ms")
