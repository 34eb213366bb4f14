"""The activity table: audit records kept in the database (docs/operations.md#activity).

Revision ID: 0004_audit
Revises: 0003_tokens_and_user_checks
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit"
down_revision = "0003_tokens_and_user_checks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ldap_auth_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_ldap_auth_audit_ts_ms", "ldap_auth_audit", ["ts_ms"])
    op.create_index("ix_ldap_auth_audit_username", "ldap_auth_audit", ["username"])


def downgrade():
    op.drop_index("ix_ldap_auth_audit_username", "ldap_auth_audit")
    op.drop_index("ix_ldap_auth_audit_ts_ms", "ldap_auth_audit")
    op.drop_table("ldap_auth_audit")
