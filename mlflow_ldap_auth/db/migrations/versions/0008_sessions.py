"""Browser sessions, the secret only as a hash (docs/reference/audit.md#sessions).

Revision ID: 0008_sessions
Revises: 0007_canonical_experiment_ids
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_sessions"
down_revision = "0007_canonical_experiment_ids"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ldap_auth_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("password_marker", sa.String(64), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("ended_reason", sa.String(64), nullable=True),
        sa.Column("ended_by", sa.String(255), nullable=True),
    )
    op.create_index("ix_ldap_auth_sessions_owner", "ldap_auth_sessions", ["owner"])


def downgrade():
    op.drop_index("ix_ldap_auth_sessions_owner", "ldap_auth_sessions")
    op.drop_table("ldap_auth_sessions")
