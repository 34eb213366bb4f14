"""Concurrent first logins of a name whose MLflow row was made elsewhere: exactly one
adopts it, on SQLite and on PostgreSQL, and it reads the admin flag the row had.

``AccountStore.adopt`` writes the plugin's record first and then the directory's admin
flag, in one transaction, so concurrent adoptions of one name wait for each other on
the record's key. The winner gets the flag as the row had it before any of them wrote
(the ``previous_admin`` of its ``user_adopted`` line); every loser writes nothing and
gets None, and goes on with the winner's row (``Provisioner``; its loser's path is in
``tests/unit/test_login_decisions.py``). The whole login, across two workers, is in
``tests/test_trust_accounts.py``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
import warnings
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

from mlflow_ldap_auth.auth.accounts import AccountStore
from mlflow_ldap_auth.auth.provisioning import Provisioner
from mlflow_ldap_auth.db import tables

RACERS = 12
PASSWORD = "a-long-enough-password-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/auth.db"
    return request.getfixturevalue("postgres").create_database(f"adoption_{uuid.uuid4().hex[:12]}")


def mlflow_store(uri: str) -> SqlAlchemyStore:
    store = SqlAlchemyStore()
    with warnings.catch_warnings():
        # MLflow's own alembic configuration (third-party noise; not the plugin's).
        warnings.filterwarnings(
            "ignore", message="No path_separator found", category=DeprecationWarning
        )
        store.init_db(uri)
    return store


def race(login: Callable[[], object]) -> list[object]:
    """What ``RACERS`` calls of ``login`` at once, each in a thread of its own, gave."""
    barrier = threading.Barrier(RACERS)
    results: list[object] = []

    def racer() -> None:
        barrier.wait()
        results.append(login())

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == RACERS
    return results


def test_one_of_many_concurrent_adoptions_wins_with_the_flag_the_row_had(database_uri):
    store = mlflow_store(database_uri)
    engine = tables.create_engine(database_uri)  # the plugin's engine, as a server makes it
    tables.migrate(engine)
    names = ["alice", "bob", "carol"]
    for name in names:
        store.create_user(name, PASSWORD, is_admin=True)  # made elsewhere (basic-auth)
    for name in names:
        results = race(lambda name=name: AccountStore(engine).adopt(name, False))
        assert results.count(True) == 1, results  # the winner: the row was an admin's
        assert results.count(None) == RACERS - 1, results  # the losers wrote nothing
        assert store.get_user(name).is_admin is False
        with engine.connect() as connection:
            origins = connection.execute(
                sa.select(tables.users.c.origin).where(tables.users.c.username == name)
            ).all()
        assert origins == [("adopted",)]
    engine.dispose()
    store.engine.dispose()


def test_concurrent_first_logins_audit_one_adoption_with_the_flag_the_row_had(database_uri, caplog):
    """Each login set the directory's flag before it recorded the name, and the one that
    recorded it could read another's write: in-process on SQLite, 20 of 30 such races
    were audited ``"previous_admin": false`` for an admin's row before the change."""
    store = mlflow_store(database_uri)
    engine = tables.create_engine(database_uri)
    tables.migrate(engine)
    names = [f"user{number}" for number in range(6)]
    for name in names:
        store.create_user(name, PASSWORD, is_admin=True)
    with caplog.at_level(logging.INFO, logger="mlflow_ldap_auth.audit"):
        for name in names:
            provisioned = race(
                lambda name=name: Provisioner(
                    store, AccountStore(engine), break_glass_name="admin"
                ).provision(name, False, None)
            )
            assert {(row.is_admin, row.user_id) for row in provisioned} == {
                (False, store.get_user(name).id)
            }
    adopted = [
        json.loads(record.getMessage())
        for record in caplog.records
        if '"user_adopted"' in record.getMessage()
    ]
    assert sorted((line["user"], line["previous_admin"], line["admin"]) for line in adopted) == [
        (name, True, False) for name in names
    ]
    assert all(store.get_user(name).is_admin is False for name in names)
    engine.dispose()
    store.engine.dispose()
