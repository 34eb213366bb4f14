"""Experiment ids in mapping patterns: the form MLflow matches on, or a refusal.

MLflow reads an experiment id with ``int()``: "002" and "+2" are experiment 2, and 3.18
compares grants in that form (``canonical_resource_id``). A mapping stored any other way
grants nothing, so the pattern is stored canonical or refused.
"""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

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
