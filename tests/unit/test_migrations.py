"""The plugin's migrations build exactly the tables ``db.tables`` declares."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mlflow_ldap_auth.db import tables


def test_migrations_at_head_match_the_declared_tables(tmp_path):
    engine = tables.create_engine(f"sqlite:///{tmp_path}/auth.db")
    tables.migrate(engine)
    tables.migrate(engine)  # idempotent
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": tables.VERSION_TABLE}
        )
        differences = compare_metadata(context, tables.metadata)
    assert differences == []
