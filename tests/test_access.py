"""Group -> permission logic: pure functions, no servers."""

from mlflow_ldap_auth.access import (
    Mapping,
    applicable,
    fold,
    group_uuid_of_role,
    is_admin,
    managed_role_name,
    parse_mapping_id,
    resulting_permissions,
    role_changes,
)


def mapping(id_, uuid, permission, pattern="1", resource_type="experiment", workspace="default"):
    return Mapping(id_, f"cn={uuid}", uuid, uuid, resource_type, pattern, permission, workspace)


def test_managed_role_names_round_trip_and_hand_made_roles_are_not_managed():
    assert group_uuid_of_role(managed_role_name("ABC-1")) == "abc-1"
    assert group_uuid_of_role("data-scientists") is None


def test_mapping_ids():
    assert parse_mapping_id("grant-17") == ("grant", 17)
    assert parse_mapping_id("admin-3") == ("admin", 3)
    for bad in ("17", "grant-", "grant-x", "admin--1", "../grant-1"):
        assert parse_mapping_id(bad) is None


def test_precedence_deny_wins_then_highest():
    assert fold(["READ", "EDIT"]) == "EDIT"
    assert fold(["READ", "MANAGE", "USE"]) == "MANAGE"
    assert fold(["MANAGE", "DENY"]) == "DENY"
    assert fold([]) is None


def test_applicable_and_resulting_permissions():
    mappings = [
        mapping("grant-1", "ds", "EDIT"),
        mapping("grant-2", "all", "READ"),
        mapping("grant-3", "other", "MANAGE"),
        mapping("grant-4", "all", "READ", pattern="*"),
    ]
    applying = applicable(mappings, {"DS", "all"})
    assert {m.id for m in applying} == {"grant-1", "grant-2", "grant-4"}
    result = {(r["resource_pattern"], r["permission"]) for r in resulting_permissions(applying)}
    assert result == {("1", "EDIT"), ("*", "READ")}
    deny = resulting_permissions([*applying, mapping("grant-5", "all", "DENY")])
    assert next(r for r in deny if r["resource_pattern"] == "1")["permission"] == "DENY"


def test_admin_by_config_dn_or_by_admin_mapping():
    admin_mapping = mapping("admin-1", "admins", "MANAGE", "*", "admin", "*")
    assert is_admin({"cn=a"}, set(), {"cn=a"}, [])
    assert not is_admin({"cn=b"}, {"x"}, {"cn=a"}, [admin_mapping])
    assert is_admin(set(), {"admins"}, set(), [admin_mapping])


def test_role_changes():
    assert role_changes({1, 2}, {2, 3}) == ({3}, {1})
    assert role_changes({1}, {1}) == (set(), set())
