"""Group -> permission logic: pure functions, no servers."""

from mlflow_ldap_auth.auth.access import (
    AccessDecision,
    GroupRef,
    Mapping,
    applicable,
    decide,
    fold,
    group_uuid_of_role,
    managed_role_name,
    parse_mapping_id,
    resulting_permissions,
    role_changes,
)
from mlflow_ldap_auth.ldap.dn import dn_key


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


ADMINS = dn_key("cn=mlflow-admins,ou=groups,dc=x")
USERS = dn_key("cn=mlflow-users,ou=groups,dc=x")
LOOK_ALIKE = dn_key("cn=mlflow-admins+ou=groups,dc=x")


def test_admin_by_configured_group_or_by_admin_mapping():
    admins = [GroupRef(ADMINS)]
    assert decide([(ADMINS, "u1")], admins, [], []) == AccessDecision(True, True)
    assert decide([(USERS, "u2")], admins, [], ["u9"]).is_admin is False
    assert decide([(USERS, "U9")], [], [], ["u9"]).is_admin is True  # admin mapping
    # Nothing configured decides the flag: it stays MLflow's.
    assert decide([(ADMINS, "u1")], [], [], []).is_admin is None


def test_configured_groups_match_by_stable_id_once_resolved():
    resolved = [GroupRef(ADMINS, uuid="u1")]
    assert decide([(ADMINS, "u1")], resolved, [], []).is_admin is True
    # Renamed group, same id: still admins.
    renamed = dn_key("cn=platform-admins,ou=groups,dc=x")
    assert decide([(renamed, "u1")], resolved, [], []).is_admin is True
    # Another group now at the configured DN: not the configured group.
    assert decide([(ADMINS, "u7")], resolved, [], []).is_admin is False


def test_look_alike_dn_is_not_the_configured_group():
    refs = [GroupRef(ADMINS)]
    assert decide([(LOOK_ALIKE, None)], refs, [], []).is_admin is False
    assert decide([(LOOK_ALIKE, "u5")], refs, refs, []) == AccessDecision(False, False)


def test_allowed_groups():
    allowed = [GroupRef(USERS, uuid="u2")]
    assert decide([(USERS, "u2")], [], allowed, []).allowed is True
    assert decide([(ADMINS, "u1")], [], allowed, []).allowed is False
    assert decide([], [], [], []).allowed is True  # no allowed_groups: everyone


def test_role_changes():
    assert role_changes({1, 2}, {2, 3}) == ({3}, {1})
    assert role_changes({1}, {1}) == (set(), set())
