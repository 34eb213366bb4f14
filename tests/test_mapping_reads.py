"""A fresh login's read of the mapped groups finds its rows by index, on SQLite and on
PostgreSQL, however many groups are mapped.

``GroupStore.relevant_to`` reads the admin mappings and the user's own groups in one
statement (``is_admin OR group_uuid IN (...)``). Without an index for each side of the
``OR`` both databases scan every mapped group at every login, so each mapping added
makes every login dearer. The plan is asked of the database for the statement the
store really sends, with its parameters.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest
import sqlalchemy as sa

from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.mappings.store import GroupStore

MAPPED = 2000


@pytest.fixture(params=["sqlite", "postgresql"])
def database_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/auth.db"
    return request.getfixturevalue("postgres").create_database(
        f"mapping_reads_{uuid.uuid4().hex[:12]}"
    )


@contextlib.contextmanager
def statements_sent(on: list):
    """Every statement any engine sends meanwhile, with its parameters."""

    def seen(connection, cursor, statement, parameters, context, executemany):
        on.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        yield on
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)


def plan_of(engine: sa.engine.Engine, statement: str, parameters) -> str:
    """The database's plan for ``statement``, as text."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(row[-1] for row in cursor.fetchall())
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        return json.dumps(cursor.fetchone()[0])
    finally:
        connection.close()


def test_a_logins_mapped_groups_are_read_by_index(database_uri):
    store = GroupStore(database_uri)
    store.migrate()
    uuids = [str(uuid.uuid4()) for _ in range(MAPPED)]
    with store.engine.begin() as connection:
        connection.execute(
            tables.groups.insert(),
            [
                {
                    "group_uuid": group_uuid,
                    "group_dn": f"cn=team-{number},ou=groups,dc=example,dc=org",
                    "display_name": f"team-{number}",
                    "is_admin": number < 2,
                    "updated_at": 0,
                }
                for number, group_uuid in enumerate(uuids)
            ],
        )
        if store.engine.dialect.name == "postgresql":  # as autovacuum would, in time
            connection.exec_driver_sql("ANALYZE ldap_auth_groups")
    with statements_sent([]) as sent:
        found = store.relevant_to([uuids[700].upper(), uuids[1500], "not-mapped"])
    assert {group.uuid for group in found} == {uuids[0], uuids[1], uuids[700], uuids[1500]}
    reads = [(sql, params) for sql, params in sent if "ldap_auth_groups" in sql]
    assert len(reads) == 1
    plan = plan_of(store.engine, *reads[0])
    if store.engine.dialect.name == "sqlite":
        assert "SCAN ldap_auth_groups" not in plan, plan
        assert "USING INDEX ix_ldap_auth_groups_is_admin" in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
        assert "ix_ldap_auth_groups_is_admin" in plan, plan
    store.engine.dispose()
