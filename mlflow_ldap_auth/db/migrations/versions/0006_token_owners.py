"""One guard row per token owner: token creation takes turns per user (docs/tokens.md#limits).

Revision ID: 0006_token_owners
Revises: 0005_lockout_expiry
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_token_owners"
down_revision = "0005_lockout_expiry"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ldap_auth_token_owners",
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("touched_at", sa.BigInteger, nullable=False),
    )


def downgrade():
    op.drop_table("ldap_auth_token_owners")
