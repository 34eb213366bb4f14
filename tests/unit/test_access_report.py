"""Who-has-access rules: one person's routes folded by MLflow's own functions."""

import pytest

from mlflow_ldap_auth.auth.access_report import Route, Routes, changes, entries, entry_for


def grant(permission, pattern="17", kind="group_mapping", resource_type="experiment", **extra):
    return Route(kind, permission, resource_type=resource_type, resource_pattern=pattern, **extra)


def resolve(routes, default="NO_PERMISSIONS", key="17"):
    return entry_for("alice", routes, "experiment", key, default).permission


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ([grant("READ"), grant("EDIT")], "EDIT"),
        ([grant("EDIT", pattern="*"), grant("MANAGE")], "MANAGE"),
        ([grant("MANAGE"), grant("DENY", kind="user_grant")], "DENY"),
        ([grant("DENY", pattern="*"), grant("READ", kind="role", role="r")], "DENY"),
        # A workspace admin grant is not restrictable, as in MLflow.
        ([grant("DENY"), grant("MANAGE", pattern="*", resource_type="workspace")], "MANAGE"),
        # Workspace USE does not speak about one experiment: the default decides.
        ([grant("USE", pattern="*", resource_type="workspace")], "NO_PERMISSIONS"),
        ([grant("DENY"), Route("admin", "MANAGE")], "MANAGE"),
        ([grant("EDIT", pattern="18")], "NO_PERMISSIONS"),
    ],
)
def test_precedence_is_mlflows(routes, expected):
    assert resolve(routes) == expected


def test_default_permission_is_the_floor_of_a_positive_grant_but_not_of_deny():
    lifted = entry_for("alice", [grant("READ")], "experiment", "17", "EDIT")
    assert lifted.permission == "EDIT"
    assert [r.kind for r in lifted.via] == ["group_mapping", "default"]
    denied = entry_for("alice", [grant("DENY")], "experiment", "17", "EDIT")
    assert denied.permission == "DENY" and [r.kind for r in denied.via] == ["group_mapping"]


def test_deny_is_shown_as_the_deciding_route():
    entry = entry_for(
        "alice", [grant("EDIT"), grant("DENY", kind="user_grant")], "experiment", "17", "READ"
    )
    assert [entry.deciding(route) for route in entry.via] == [False, True]


def test_one_person_under_two_spellings_is_one_entry_and_sorted_strongest_first():
    routes = Routes()
    routes.add("Alice", grant("READ"))
    routes.add("alice", grant("EDIT", group="cn=b"))
    routes.add("bob", grant("DENY"))
    routes.add("carol", Route("admin", "MANAGE"))
    found = entries(routes, "experiment", "17", "NO_PERMISSIONS")
    assert [(e.user, e.permission) for e in found] == [
        ("bob", "DENY"),
        ("carol", "MANAGE"),
        ("Alice", "EDIT"),
    ]


def test_route_json_has_only_the_fields_that_apply():
    assert Route("admin", "MANAGE").to_json() == {"kind": "admin", "permission": "MANAGE"}
    assert grant("EDIT", group="cn=g", mapping_id="grant-1", through=("cn=sub",)).to_json() == {
        "kind": "group_mapping",
        "group": "cn=g",
        "mapping_id": "grant-1",
        "resource_type": "experiment",
        "resource_pattern": "17",
        "through": ["cn=sub"],
        "permission": "EDIT",
    }


def test_changes_person_by_person():
    def answer(**people):
        routes = Routes()
        for name, permission in people.items():
            routes.add(name, grant(permission))
        return entries(routes, "experiment", "17", "READ")

    found = changes(
        answer(alice="EDIT", bob="READ"), answer(alice="EDIT", bob="MANAGE", dave="DENY")
    )
    assert [(c.user, c.before, c.after) for c in found] == [
        ("bob", "READ", "MANAGE"),
        ("dave", None, "DENY"),
    ]


def test_no_change_where_the_effective_permission_stays():
    """default_permission READ: a new READ grant, or losing one, changes nothing."""
    granted = Routes()
    granted.add("alice", grant("READ"))
    with_grant = entries(granted, "experiment", "17", "READ")
    assert changes([], with_grant, "READ") == []
    assert changes(with_grant, [], "READ") == []
    # With default EDIT a READ grant is lifted to EDIT: removing it changes nothing either.
    lifted = entries(granted, "experiment", "17", "EDIT")
    assert changes(lifted, [], "EDIT") == []
    # Where no grant means no access (a workspace the person has no role in), it does.
    assert [(c.before, c.after, c.gain) for c in changes([], with_grant, "NO_PERMISSIONS")] == [
        (None, "READ", True)
    ]
