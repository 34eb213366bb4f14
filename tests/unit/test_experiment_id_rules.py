"""Experiment ids in mapping patterns: the form MLflow matches on, or a refusal.

MLflow reads an experiment id with ``int()``: "002" and "+2" are experiment 2, and 3.18
compares grants in that form (``canonical_resource_id``). A mapping stored any other way
grants nothing, so the pattern is stored canonical or refused; grants stored before that
are rewritten by a migration.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.mappings.service import validate_fields
from mlflow_ldap_auth.mlflow_compat import rules

GROUP = "cn=data-science,ou=groups,dc=example,dc=org"

ACCEPTED = [
    ("2", "2"),
    ("002", "2"),
    ("+2", "2"),
    ("0", "0"),
    ("000", "0"),
    ("9223372036854775807", "9223372036854775807"),
    ("0" * 200 + "42", "42"),
]
REFUSED = [
    "2.0",
    "0x2",
    "-2",
    "-0",
    "1_000",
    "\uff12",  # FULLWIDTH DIGIT TWO: int() reads 2, an operator reading the page does not
    "\u0662",  # ARABIC-INDIC DIGIT TWO
    "2 3",
    "ds-exp",
    "9223372036854775808",
    "99999999999999999999",
    "1" * 5000,  # beyond int()'s digit limit: refused, not a crash
]


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED)
def test_an_experiment_id_is_stored_as_mlflow_matches_it(typed, stored):
    assert rules.canonical_resource_pattern(typed, "experiment") == stored


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED)
def test_the_stored_form_is_mlflows_own(typed, stored):
    """Where MLflow has ``canonical_resource_id`` (3.18 on) it agrees; before, the SQL
    tracking store's ``int()`` does."""
    from mlflow.server.auth import permissions

    canonical = getattr(permissions, "canonical_resource_id", None)
    expected = canonical("experiment", typed) if canonical else str(int(typed))
    assert stored == expected
    assert permissions.matches(stored, "experiment", str(int(typed)))


@pytest.mark.parametrize("typed", REFUSED)
def test_text_that_is_no_experiment_id_is_refused(typed):
    with pytest.raises(MlflowException) as refused:
        rules.canonical_resource_pattern(typed, "experiment")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "experiment id" in refused.value.message
    assert len(refused.value.message) < 300  # a long input is not echoed whole
    assert rules.canonical_pattern_spelling(typed, "experiment") is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("002/polite", "2/polite"), ("7/a%2Fb", "7/a%2Fb"), ("+7/x/y", "7/x/y"), ("*", "*")],
)
def test_a_scorer_pattern_gets_the_same_for_its_experiment_part(typed, stored):
    assert rules.canonical_resource_pattern(typed, "scorer") == stored


@pytest.mark.parametrize("typed", ["polite", "2/", "ds-exp/polite", "2.0/polite", "/polite"])
def test_a_scorer_pattern_without_an_experiment_id_is_refused(typed):
    with pytest.raises(MlflowException, match="experiment_id"):
        rules.canonical_resource_pattern(typed, "scorer")


@pytest.mark.parametrize("resource_type", ["registered_model", "prompt", "gateway_secret"])
def test_other_types_keep_their_pattern(resource_type):
    assert rules.canonical_resource_pattern("007", resource_type) == "007"


@pytest.mark.parametrize(
    ("typed", "stored"), [("002", "2"), (" 2 ", "2"), ("+2", "2"), ("*", "*"), (" 0010 ", "10")]
)
def test_validate_fields_returns_the_canonical_pattern(monkeypatch, typed, stored):
    monkeypatch.delenv("MLFLOW_ENABLE_WORKSPACES", raising=False)
    fields = validate_fields(GROUP, "experiment", typed, "read", "default")
    assert fields == (GROUP, "experiment", stored, "READ", "default")


@pytest.mark.parametrize("typed", ["2.0", "ds-exp", "\uff12", "-2"])
def test_validate_fields_refuses_what_would_grant_nothing(monkeypatch, typed):
    monkeypatch.delenv("MLFLOW_ENABLE_WORKSPACES", raising=False)
    with pytest.raises(MlflowException) as refused:
        validate_fields(GROUP, "experiment", typed, "READ", "default")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


# -- the migration of grants stored before -------------------------------------------
MANAGED = "ldap-group:a43bf8a0-7fd9-1041-98d9-a3ffdc04979c"
OTHER_GROUP = "ldap-group:7d2b9c44-2222-4a6e-8f00-fedcba987654"
HAND_MADE = "team-leads"


#: (id, role id, resource type, pattern, permission) as the plugin stored them.
OLD_GRANTS = (
    (10, 1, "experiment", "002", "READ"),
    # the canonical one exists: DENY wins, whichever row held it
    (11, 1, "experiment", "7", "EDIT"),
    (12, 1, "experiment", "007", "DENY"),
    # the stronger wins and keeps the oldest id
    (13, 1, "experiment", "0010", "EDIT"),
    (14, 1, "experiment", "10", "READ"),
    (15, 1, "experiment", "+010", "USE"),
    (16, 1, "scorer", "03/polite", "READ"),
    (17, 1, "experiment", "2.0", "READ"),
    (18, 1, "registered_model", "007", "READ"),
    (19, 1, "experiment", "*", "READ"),
    (20, 2, "experiment", "02", "MANAGE"),
    (21, 3, "experiment", "002", "READ"),
)


def _mlflow_auth_tables(engine):
    from mlflow.server.auth.db import models

    models.Base.metadata.create_all(engine)


def _grants(engine) -> dict[int, tuple[str, str, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT rp.id, r.name, rp.resource_type, rp.resource_pattern, rp.permission "
                "FROM role_permissions rp JOIN roles r ON r.id = rp.role_id"
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}


@pytest.fixture
def old_database(tmp_path):
    """MLflow's auth tables holding grants as the plugin stored them before the check."""
    engine = tables.create_engine(f"sqlite:///{tmp_path}/auth.db")
    _mlflow_auth_tables(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO roles (id, name, workspace) VALUES (:id, :name, 'default')"),
            [
                {"id": 1, "name": MANAGED},
                {"id": 2, "name": OTHER_GROUP},
                {"id": 3, "name": HAND_MADE},
            ],
        )
        connection.execute(
            sa.text(
                "INSERT INTO role_permissions (id, role_id, resource_type, resource_pattern,"
                " permission) VALUES (:id, :role, :type, :pattern, :permission)"
            ),
            [
                dict(zip(("id", "role", "type", "pattern", "permission"), row, strict=True))
                for row in OLD_GRANTS
            ],
        )
    return engine


def test_the_migration_rewrites_the_plugins_grants_to_the_canonical_id(old_database, caplog):
    caplog.set_level("WARNING", logger="mlflow_ldap_auth.db.migrations")
    tables.migrate(old_database)
    assert _grants(old_database) == {
        10: (MANAGED, "experiment", "2", "READ"),
        12: (MANAGED, "experiment", "7", "DENY"),
        13: (MANAGED, "experiment", "10", "EDIT"),
        16: (MANAGED, "scorer", "3/polite", "READ"),
        17: (MANAGED, "experiment", "2.0", "READ"),  # names nothing: kept, logged
        18: (MANAGED, "registered_model", "007", "READ"),
        19: (MANAGED, "experiment", "*", "READ"),
        20: (OTHER_GROUP, "experiment", "2", "MANAGE"),
        21: (HAND_MADE, "experiment", "002", "READ"),  # not the plugin's role
    }
    logged = caplog.text
    assert "grant-17" in logged and "names no experiment" in logged
    assert "merged away: grant-11" in logged
    assert "grant-21" not in logged


def test_the_migration_on_a_database_without_mlflows_tables_does_nothing(tmp_path):
    engine = tables.create_engine(f"sqlite:///{tmp_path}/auth.db")
    tables.migrate(engine)
    assert not sa.inspect(engine).has_table("role_permissions")
