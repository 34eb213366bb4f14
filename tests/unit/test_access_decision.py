"""The access decision: what ``test_access.py`` does not cover yet, and ``AccessPolicy``."""

from __future__ import annotations

import pytest
from fakes import FakeDirectory, FakeGroupStore, Tripwire, directory_user, group_dn, unavailable

from mlflow_ldap_auth.auth.access import (
    AccessDecision,
    GroupRef,
    Mapping,
    admin_mapping_id,
    applicable,
    decide,
    fold,
    grant_mapping_id,
    managed_role_name,
    member_of_any,
    parse_mapping_id,
    resulting_permissions,
)
from mlflow_ldap_auth.auth.access_policy import (
    RESOLVE_RETRY_SECONDS,
    AccessPolicy,
    ConfiguredGroups,
)
from mlflow_ldap_auth.errors import DomainError
from mlflow_ldap_auth.ldap.dn import dn_key
from mlflow_ldap_auth.mappings.service import MappingService

ADMINS = dn_key(group_dn("mlflow-admins"))
USERS = dn_key(group_dn("mlflow-users"))
OTHER = dn_key(group_dn("other"))


# -- member_of_any ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_groups", "ref", "expected"),
    [
        # Both sides know the stable id: only the id counts.
        ([(OTHER, "u1")], GroupRef(ADMINS, "u1"), True),  # renamed/moved group
        ([(ADMINS, "u2")], GroupRef(ADMINS, "u1"), False),  # another group at the old DN
        # One side has no id: the structural DN decides.
        ([(ADMINS, None)], GroupRef(ADMINS, "u1"), True),
        ([(OTHER, None)], GroupRef(ADMINS, "u1"), False),
        ([(ADMINS, "u1")], GroupRef(ADMINS), True),
        ([(OTHER, "u1")], GroupRef(ADMINS), False),
        ([], GroupRef(ADMINS), False),
    ],
)
def test_member_of_any(user_groups, ref, expected):
    assert member_of_any(user_groups, [ref]) is expected


def test_member_of_any_with_no_refs_is_false():
    assert member_of_any([(ADMINS, "u1")], []) is False


def test_member_of_any_reads_one_pass_iterables_for_every_ref():
    groups = ((key, uuid) for key, uuid in [(USERS, "u2")])
    refs = iter([GroupRef(ADMINS, "u1"), GroupRef(USERS, "u2")])
    assert member_of_any(groups, refs) is True


# -- decide -------------------------------------------------------------------------


def test_decide_reads_one_pass_iterables():
    decision = decide(
        iter([(OTHER, "u3"), (USERS, "u2")]),
        iter([GroupRef(ADMINS, "u1")]),
        iter([GroupRef(USERS, "u2")]),
        iter(["U3"]),
    )
    assert decision == AccessDecision(allowed=True, is_admin=True)


def test_an_admin_mapping_matches_whatever_the_case_of_its_id():
    assert decide([(OTHER, "abc")], [], [], ["ABC"]).is_admin is True
    assert decide([(OTHER, "ABC")], [], [], ["abc"]).is_admin is True


def test_a_group_without_a_stable_id_is_never_admin_by_mapping():
    assert decide([(OTHER, None)], [], [], ["abc"]) == AccessDecision(True, False)


def test_allowed_and_admin_are_separate_questions():
    refs_admin, refs_allowed = [GroupRef(ADMINS, "u1")], [GroupRef(USERS, "u2")]
    # Admin but not in allowed_groups: not allowed (login refuses before the flag matters).
    assert decide([(ADMINS, "u1")], refs_admin, refs_allowed, []) == AccessDecision(False, True)
    assert decide([(USERS, "u2")], refs_admin, refs_allowed, []) == AccessDecision(True, False)
    assert decide([], refs_admin, refs_allowed, []) == AccessDecision(False, False)


def test_allowed_groups_alone_leave_the_admin_flag_to_mlflow():
    assert decide([(USERS, "u2")], [], [GroupRef(USERS, "u2")], []) == AccessDecision(True, None)
    assert decide([], [], [GroupRef(USERS, "u2")], []) == AccessDecision(False, None)


def test_an_admin_mapping_alone_decides_the_flag_for_everyone():
    # Once any group has an admin mapping, the flag is decided (False for non-members).
    assert decide([(USERS, "u2")], [], [], ["u1"]) == AccessDecision(True, False)


# -- fold, applicable, resulting_permissions ------------------------------------------


@pytest.mark.parametrize(
    ("permissions", "expected"),
    [
        (["READ"], "READ"),
        (["NO_PERMISSIONS"], "NO_PERMISSIONS"),
        (["NO_PERMISSIONS", "READ"], "READ"),
        (["USE", "READ"], "USE"),
        (["EDIT", "USE"], "EDIT"),
        (["DENY"], "DENY"),
        (["READ", "DENY", "MANAGE"], "DENY"),
        (["NO_PERMISSIONS", "DENY"], "DENY"),
    ],
)
def test_fold(permissions, expected):
    assert fold(permissions) == expected
    assert fold(reversed(permissions)) == expected
    assert fold(iter(permissions)) == expected


def mapping(id_, uuid, permission, pattern="1", resource_type="experiment", workspace="default"):
    return Mapping(id_, f"cn={uuid}", uuid, uuid, resource_type, pattern, permission, workspace)


def test_applicable_keeps_only_the_users_groups():
    mappings = [mapping("grant-1", "a", "READ"), mapping("grant-2", "b", "EDIT")]
    assert applicable(mappings, []) == []
    assert applicable(mappings, iter(["B"])) == [mappings[1]]
    assert applicable([], ["a"]) == []


def test_resulting_permissions_per_workspace_type_and_pattern():
    applying = [
        mapping("grant-9", "a", "READ", workspace="team-b"),
        mapping("grant-3", "a", "EDIT", pattern="*", resource_type="registered_model"),
        mapping("grant-10", "b", "MANAGE"),
        mapping("grant-2", "a", "READ"),
        mapping("admin-1", "c", "MANAGE", pattern="*", resource_type="admin", workspace="*"),
    ]
    assert resulting_permissions(applying) == [
        {
            "workspace": "default",
            "resource_type": "experiment",
            "resource_pattern": "1",
            "permission": "MANAGE",
            "from_mappings": ["grant-10", "grant-2"],
        },
        {
            "workspace": "default",
            "resource_type": "registered_model",
            "resource_pattern": "*",
            "permission": "EDIT",
            "from_mappings": ["grant-3"],
        },
        {
            "workspace": "team-b",
            "resource_type": "experiment",
            "resource_pattern": "1",
            "permission": "READ",
            "from_mappings": ["grant-9"],
        },
    ]


def test_resulting_permissions_of_nothing_or_only_admin_mappings_is_empty():
    assert resulting_permissions([]) == []
    admin = mapping("admin-1", "c", "MANAGE", pattern="*", resource_type="admin", workspace="*")
    assert resulting_permissions([admin]) == []


# -- mapping ids and keys -----------------------------------------------------------


@pytest.mark.parametrize("number", [0, 1, 17, 10**12])
def test_mapping_ids_round_trip(number):
    assert parse_mapping_id(grant_mapping_id(number)) == ("grant", number)
    assert parse_mapping_id(admin_mapping_id(number)) == ("admin", number)


@pytest.mark.parametrize(
    "bad", ["", "grant", "GRANT-1", "grant-1 ", " grant-1", "grant-+1", "grant-1.0", "admin-0x1"]
)
def test_malformed_mapping_ids(bad):
    assert parse_mapping_id(bad) is None


@pytest.mark.parametrize(
    "bad",
    [
        "grant-\u00b2",  # str.isdigit() is true for these; int() refuses the first three
        "admin-\u2460",
        "grant-1\u00b2",
        "grant-\u0661\u0662",
    ],
)
def test_mapping_ids_with_non_ascii_digits_are_malformed(bad):
    assert parse_mapping_id(bad) is None


def test_deleting_a_mapping_with_a_non_ascii_digit_id_is_not_found():
    service = MappingService(Tripwire("auth store"), FakeGroupStore(), Tripwire("directory"))
    with pytest.raises(DomainError) as raised:
        service.delete("grant-\u00b2")
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_the_key_ignores_id_dn_and_name_but_not_the_rest():
    one = Mapping("grant-1", "cn=a", "u", "a", "experiment", "1", "READ", "default")
    same = Mapping("grant-7", "cn=b", "u", None, "experiment", "1", "READ", "default")
    assert one.key == same.key
    for field, value in [
        ("group_uuid", "v"),
        ("resource_type", "registered_model"),
        ("resource_pattern", "2"),
        ("permission", "EDIT"),
        ("workspace", "team"),
    ]:
        other = Mapping(**{**one.to_json(), field: value})
        assert other.key != one.key, field


def test_to_json_has_every_field():
    one = Mapping("grant-1", "cn=a", "u", None, "experiment", "1", "READ", "default")
    assert one.to_json() == {
        "id": "grant-1",
        "group": "cn=a",
        "group_uuid": "u",
        "group_name": None,
        "resource_type": "experiment",
        "resource_pattern": "1",
        "permission": "READ",
        "workspace": "default",
    }


def test_managed_role_name_is_lowercase():
    assert managed_role_name("A43BF8A0-7FD9") == "ldap-group:a43bf8a0-7fd9"


# -- ConfiguredGroups and AccessPolicy ------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def directory():
    directory = FakeDirectory()
    directory.add_group(group_dn("mlflow-admins"), "u-admins", "mlflow-admins")
    directory.add_group(group_dn("mlflow-users"), "u-users", "mlflow-users")
    return directory


@pytest.fixture
def clock():
    return Clock()


ADMIN_DNS = (group_dn("mlflow-admins"),)


def configured(directory, clock, admin=ADMIN_DNS, allowed=()):
    return ConfiguredGroups(tuple(admin), tuple(allowed), directory, clock=clock)


def test_configured_groups_resolve_once_to_stable_ids(directory, clock):
    groups = configured(directory, clock, allowed=[group_dn("mlflow-users")])
    assert directory.calls["read_group"] == 0  # nothing at construction
    admin_refs, allowed_refs = groups.refs()
    assert admin_refs == (GroupRef(ADMINS, "u-admins"),)
    assert allowed_refs == (GroupRef(USERS, "u-users"),)
    assert directory.calls["read_group"] == 2
    clock.now += 10 * RESOLVE_RETRY_SECONDS
    assert groups.refs() == (admin_refs, allowed_refs)
    assert directory.calls["read_group"] == 2


def test_a_configured_dn_in_another_spelling_resolves(directory, clock):
    groups = configured(directory, clock, admin=["CN=MLflow-Admins, OU=Groups, DC=Example, DC=Org"])
    assert groups.refs()[0] == (GroupRef(ADMINS, "u-admins"),)


def test_an_unresolved_group_is_compared_by_dn_and_retried_later(directory, clock):
    directory.failure = unavailable()
    groups = configured(directory, clock, allowed=[group_dn("mlflow-users")])
    assert groups.refs() == ((GroupRef(ADMINS),), (GroupRef(USERS),))
    assert directory.calls["read_group"] == 1  # the first outage ends this round
    directory.failure = None
    clock.now += RESOLVE_RETRY_SECONDS - 1
    groups.refs()
    assert directory.calls["read_group"] == 1  # not due yet
    clock.now += 1
    assert groups.refs() == ((GroupRef(ADMINS, "u-admins"),), (GroupRef(USERS, "u-users"),))
    assert directory.calls["read_group"] == 3


@pytest.mark.parametrize(
    "entry",
    [
        None,  # nothing at that DN (yet)
        ("u-x", False),  # an entry that is not a group
        (None, True),  # a group without entryUUID / objectGUID
    ],
)
def test_an_entry_that_cannot_be_resolved_stays_a_dn(clock, entry):
    directory = FakeDirectory()
    if entry is not None:
        directory.add_group(group_dn("mlflow-admins"), entry[0], "x", is_group=entry[1])
    groups = configured(directory, clock)
    assert groups.refs() == ((GroupRef(ADMINS),), ())
    clock.now += RESOLVE_RETRY_SECONDS
    directory.groups[:] = []
    directory.add_group(group_dn("mlflow-admins"), "u-admins", "mlflow-admins")
    assert groups.refs() == ((GroupRef(ADMINS, "u-admins"),), ())


def test_configured():
    directory = Tripwire("directory")
    assert ConfiguredGroups((), (), directory).configured is False
    assert ConfiguredGroups((group_dn("a"),), (), directory).configured is True
    assert ConfiguredGroups((), (group_dn("a"),), directory).configured is True


def test_policy_after_resolution_follows_renames_not_new_groups_at_the_old_dn(directory, clock):
    policy = AccessPolicy(configured(directory, clock), FakeGroupStore())
    renamed = directory_user("alice", {group_dn("platform-admins"): "u-admins"})
    impostor = directory_user("mallory", {group_dn("mlflow-admins"): "u-new"})
    assert policy.decide(renamed) == AccessDecision(True, True)
    assert policy.decide(impostor) == AccessDecision(True, False)


def test_policy_admin_by_mapping_reads_the_mapped_groups(directory, clock):
    groups = FakeGroupStore()
    groups.upsert("u-ds", group_dn("data-science"), "data-science")
    groups.set_admin("u-ds", True)
    groups.upsert("u-readers", group_dn("readers"), "readers")
    policy = AccessPolicy(configured(directory, clock, admin=()), groups)
    member = directory_user("alice", {group_dn("data-science"): "u-ds"})
    reader = directory_user("bob", {group_dn("readers"): "u-readers"})
    assert policy.decide(member) == AccessDecision(True, True)
    assert groups.calls["list"] == 1
    assert policy.decide(reader) == AccessDecision(True, False)
    # Given the mapped groups, the policy does not read them again.
    assert policy.decide(member, groups.list()).is_admin is True
    assert policy.decide(member, []).is_admin is None
    assert groups.calls["list"] == 3


def test_policy_allowed_groups(directory, clock):
    policy = AccessPolicy(
        configured(directory, clock, admin=(), allowed=[group_dn("mlflow-users")]),
        FakeGroupStore(),
    )
    assert policy.decide(directory_user("a", {group_dn("mlflow-users"): "u-users"})).allowed
    assert not policy.decide(directory_user("b", {group_dn("other"): "u-other"})).allowed
    look_alike = "cn=mlflow-users+ou=groups,dc=example,dc=org"
    assert not policy.decide(directory_user("c", {look_alike: None})).allowed
    assert not policy.decide(directory_user("d")).allowed
