"""Alembic environment for mlflow-ldap-auth's own tables (run from ``tables.migrate``)."""

from alembic import context

from mlflow_ldap_auth.db.tables import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite needs batch mode for ALTERs
)
with context.begin_transaction():
    context.run_migrations()
