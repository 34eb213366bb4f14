"""The resource-type registry: a row for every type MLflow's engine accepts, and its
pure parts (labels, MLflow's skill keys, the generic row of a type it does not know)."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.version import VERSION
from packaging.version import Version

from mlflow_ldap_auth.mlflow_compat import resource_types, rules
from mlflow_ldap_auth.mlflow_compat.resource_names import ResourceLabel

HAS_SKILLS = Version(VERSION) >= Version("3.18")
needs_skills = pytest.mark.skipif(
    not HAS_SKILLS,
    reason=f"MLflow {VERSION} has no skills: the Skill Registry came with MLflow 3.18",
)


def mlflow_types() -> dict:
    from mlflow.server.auth.permissions import TYPE

    return TYPE


def test_every_type_mlflows_engine_accepts_has_a_row_that_maps_it():
    available = resource_types.available()
    assert set(available) == set(mlflow_types())
    for name, row in available.items():
        rules.check_resource_pattern("*", name)  # every type maps with "*"
        # A row names one resource exactly where MLflow's own rule lets a grant do so.
        assert row.per_resource == (not rules.wildcard_only(name)), name
        assert rules.grantable_permissions(name), name


def test_every_type_a_grant_can_name_one_resource_of_has_its_own_row():
    """A type MLflow adds that grants name one by one maps with the generic row; this
    says it still needs a row here to be named and searched."""
    per_resource = {name for name, row in resource_types.available().items() if row.per_resource}
    assert per_resource <= set(resource_types.ROWS)
    for name in per_resource:
        assert resource_types.ROWS[name].lookup is not None, name


def test_rows_for_types_a_release_lacks_are_absent_there():
    assert ("skill" in resource_types.available()) == HAS_SKILLS
    assert "skill" in resource_types.ROWS  # the table itself knows it on every release


def test_the_form_order_is_the_tables_then_mlflows_others_by_name():
    names = list(resource_types.available())
    known = [name for name in resource_types.ROWS if name in mlflow_types()]
    assert names[: len(known)] == known
    assert names[len(known) :] == sorted(set(mlflow_types()) - set(resource_types.ROWS))


def test_a_type_the_table_does_not_know_gets_a_generic_row(monkeypatch):
    from mlflow.server.auth import permissions

    types = dict(permissions.TYPE)
    types["notebook"] = permissions.WILDCARD_AND_ID
    types["cell"] = frozenset({permissions.PatternKind.WILDCARD})
    monkeypatch.setattr(permissions, "TYPE", types)
    available = resource_types.available.__wrapped__()
    notebook, cell = available["notebook"], available["cell"]
    assert (notebook.singular, notebook.plural, notebook.keyed_by) == (
        "notebook",
        "notebook",
        resource_types.BY_ID,
    )
    assert notebook.per_resource and not cell.per_resource
    assert not notebook.searchable and notebook.lookup is None and notebook.find is None
    # The form offers it where MLflow's grain says: by id, or "* only".
    assert "notebook" in [name for name, row in available.items() if row.per_resource]


def test_labels_and_the_wildcard_text_come_from_the_rows():
    assert resource_types.row("registered_model").plural == "registered models"
    assert resource_types.row("mcp_server").singular == "MCP server"
    assert ResourceLabel("skill", "*", None, True).text == "all skills"
    assert ResourceLabel("gateway_secret", "*", None, True).text == "all gateway secrets"
    assert ResourceLabel("workspace", "*", None, True).text == "the whole workspace"
    assert ResourceLabel("run", "*", None, True).text == "all run"  # generic: its own name
    assert resource_types.row("no_such_type") == resource_types.generic_row("no_such_type")


def test_what_each_known_type_can_do():
    searchable = {name for name, row in resource_types.ROWS.items() if row.searchable}
    assert searchable == {
        "experiment",
        "registered_model",
        "prompt",
        "gateway_secret",
        "gateway_endpoint",
        "gateway_model_definition",
        "mcp_server",
        "skill",
    }
    keyed_by = {name: row.keyed_by for name, row in resource_types.ROWS.items()}
    assert keyed_by["experiment"] == keyed_by["gateway_endpoint"] == resource_types.BY_ID
    assert keyed_by["skill"] == keyed_by["registered_model"] == resource_types.BY_NAME
    assert keyed_by["scorer"] == resource_types.BY_COMPOSITE_KEY


@needs_skills
@pytest.mark.parametrize(
    ("typed", "key"),
    [("myskill", "myskill"), ("@acme/myskill", "@acme/myskill"), ("@acme.io/a-b", "@acme.io/a-b")],
)
def test_a_skill_key_is_mlflows(typed, key):
    from mlflow.server.auth.permissions import (
        _format_skill_registry_resource_key,
        _parse_skill_registry_resource_key,
    )

    assert resource_types.normalise_skill_key(typed) == key
    assert _format_skill_registry_resource_key(*_parse_skill_registry_resource_key(key)) == key


@needs_skills
@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("@acme", "'@acme' is not a skill: type its name or @organization/name"),
        ("@acme/", "@organization/name"),
        ("@/myskill", "@organization/name"),
        ("acme/myskill", "@organization/name"),
        ("@acme/my/skill", "@organization/name"),
        ("MySkill", "lowercase"),
        ("@Acme/myskill", "lowercase"),
        ("my--skill", "consecutive hyphens"),
    ],
)
def test_a_key_no_skill_can_have_is_refused_with_what_a_key_looks_like(typed, says):
    with pytest.raises(MlflowException) as excinfo:
        resource_types.normalise_skill_key(typed)
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
    assert says in excinfo.value.message
