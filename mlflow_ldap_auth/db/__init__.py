"""The plugin's own tables in ``database_uri`` and their alembic migrations."""
