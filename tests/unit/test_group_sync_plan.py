"""Group sync at a fresh bind: the plan (moves, decision, member ids) and the role changes."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from fakes import (
    FakeDirectory,
    FakeGroupStore,
    FakeMlflowStore,
    directory_user,
    group_dn,
)
from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.auth.access import AccessDecision, managed_role_name, role_changes
from mlflow_ldap_auth.auth.access_policy import AccessPolicy, ConfiguredGroups
from mlflow_ldap_auth.auth.group_sync import GroupSync, SyncPlan
from mlflow_ldap_auth.errors import NotAllowed

DS, ANALYSTS, ADMINS = "u-ds", "u-analysts", "u-admins"


@pytest.fixture
def store():
    return FakeMlflowStore()


@pytest.fixture
def groups(store):
    groups = FakeGroupStore(store)
    groups.upsert(DS, group_dn("data-science"), "data-science")
    groups.upsert(ANALYSTS, group_dn("analysts"), "analysts")
    return groups


def make_sync(store, groups, admin_dns=(), allowed_dns=()):
    directory = FakeDirectory()
    directory.add_group(group_dn("mlflow-admins"), ADMINS, "mlflow-admins")
    directory.add_group(group_dn("mlflow-users"), "u-users", "mlflow-users")
    policy = AccessPolicy(ConfiguredGroups(admin_dns, allowed_dns, directory), groups)
    return GroupSync(store, groups, policy, break_glass_name="admin")


# -- plan ---------------------------------------------------------------------------


def test_a_moved_group_gets_its_new_dn_and_keeps_its_name(store, groups):
    sync = make_sync(store, groups)
    moved = "cn=data-science,ou=teams,dc=example,dc=org"
    sync.plan(directory_user("alice", {moved: DS}))
    assert groups.by_uuid(DS).dn == moved
    assert groups.by_uuid(DS).name == "data-science"
    assert groups.by_uuid(ANALYSTS).dn == group_dn("analysts")


@pytest.mark.parametrize(
    "spelling",
    [
        "CN=Data-Science,OU=Groups,DC=Example,DC=Org",
        "cn = data-science , ou=groups, dc=example, dc=org",
        "2.5.4.3=data-science,ou=groups,dc=example,dc=org",
    ],
)
def test_the_same_dn_in_another_spelling_is_not_a_move(store, groups, spelling):
    sync = make_sync(store, groups)
    writes = groups.calls["upsert"]
    sync.plan(directory_user("alice", {spelling: DS}))
    assert groups.calls["upsert"] == writes
    assert groups.by_uuid(DS).dn == group_dn("data-science")


def test_groups_the_store_does_not_map_are_not_recorded(store, groups):
    sync = make_sync(store, groups)
    writes = groups.calls["upsert"]
    plan = sync.plan(directory_user("alice", {group_dn("unmapped"): "u-unmapped"}))
    assert groups.calls["upsert"] == writes
    assert groups.by_uuid("u-unmapped") is None
    assert plan.member_uuids == frozenset({"u-unmapped"})


def test_member_ids_are_every_group_with_a_stable_id(store, groups):
    sync = make_sync(store, groups)
    user = directory_user(
        "alice",
        {group_dn("data-science"): DS, group_dn("unmapped"): "u-unmapped", group_dn("x"): None},
    )
    assert sync.plan(user).member_uuids == frozenset({DS, "u-unmapped"})
    assert sync.plan(directory_user("bob")).member_uuids == frozenset()


def test_the_plan_reads_the_users_mapped_groups_once_never_all_of_them(store, groups):
    sync = make_sync(store, groups)
    sync.plan(directory_user("alice", {group_dn("data-science"): DS}))
    assert groups.calls["relevant_to"] == 1
    assert groups.calls["list"] == 0


def test_an_admin_mapping_of_another_group_makes_the_flag_managed(store, groups):
    # The user is in no admin-mapped group, but one exists: the flag is False, not None.
    groups.set_admin(ANALYSTS, True)
    plan = make_sync(store, groups).plan(directory_user("alice", {group_dn("data-science"): DS}))
    assert plan.decision == AccessDecision(True, False)


def test_the_plan_carries_the_access_decision(store, groups):
    groups.set_admin(ANALYSTS, True)
    admin_dns, allowed_dns = (group_dn("mlflow-admins"),), (group_dn("mlflow-users"),)
    sync = make_sync(store, groups, admin_dns=admin_dns, allowed_dns=allowed_dns)
    by_mapping = directory_user(
        "a", {group_dn("analysts"): ANALYSTS, group_dn("mlflow-users"): "u-users"}
    )
    by_config = directory_user("b", {group_dn("mlflow-admins"): ADMINS})
    plain = directory_user("c", {group_dn("mlflow-users"): "u-users"})
    assert sync.plan(by_mapping).decision == AccessDecision(True, True)
    assert sync.plan(by_config).decision == AccessDecision(False, True)
    assert sync.plan(plain).decision == AccessDecision(True, False)
    assert sync.plan(directory_user("d")).decision == AccessDecision(False, False)


def test_with_nothing_configured_the_flag_is_left_to_mlflow(store, groups):
    plan = make_sync(store, groups).plan(directory_user("a", {group_dn("analysts"): ANALYSTS}))
    assert plan.decision == AccessDecision(True, None)


# -- apply --------------------------------------------------------------------------


@pytest.fixture
def roles(store):
    return {
        DS: store.create_role(managed_role_name(DS)),
        ANALYSTS: store.create_role(managed_role_name(ANALYSTS)),
        "hand-made": store.create_role("data-team"),
    }


def plan_for(*uuids):
    return SyncPlan(decision=AccessDecision(True, None), member_uuids=frozenset(uuids))


def test_apply_assigns_member_roles_unassigns_others_and_spares_hand_made_ones(
    store, groups, roles
):
    user = store.create_user("alice", "x")
    store.assign_role_to_user(user.id, roles[ANALYSTS])
    store.assign_role_to_user(user.id, roles["hand-made"])
    sync = make_sync(store, groups)
    assert sync.apply(plan_for(DS, "u-without-role"), "alice") is True
    assert store.assignments == {(user.id, roles[DS]), (user.id, roles["hand-made"])}
    # Nothing left to do: no writes.
    writes = groups.calls["change_assignments"]
    assert sync.apply(plan_for(DS, "u-without-role"), "alice") is False
    assert groups.calls["change_assignments"] == writes
    assert sync.apply(plan_for(), "alice") is True
    assert store.assignments == {(user.id, roles["hand-made"])}


def test_apply_touches_only_this_users_assignments(store, groups, roles):
    alice, bob = store.create_user("alice", "x"), store.create_user("bob", "x")
    store.assign_role_to_user(bob.id, roles[ANALYSTS])
    make_sync(store, groups).apply(plan_for(DS), "alice")
    assert store.assignments == {(alice.id, roles[DS]), (bob.id, roles[ANALYSTS])}


@pytest.mark.parametrize("spelling", ["admin", "ADMIN", " Admin ", "\uff41dmin"])
def test_apply_refuses_the_break_glass_name_in_any_spelling(store, groups, roles, spelling):
    admin = store.create_user("admin", "x", is_admin=True)
    with pytest.raises(NotAllowed) as refused:
        make_sync(store, groups).apply(plan_for(DS), spelling, user_id=admin.id)
    assert refused.value.reason == "local_admin_name"
    assert store.assignments == set()
    assert groups.calls["change_assignments"] == 0


class RacingGroups(FakeGroupStore):
    """Another worker's login of the same user writes first, ``races`` times."""

    def __init__(self, store, races=1, error=None):
        super().__init__(store)
        self.races = races
        self.error = error

    def change_assignments(self, user_id, add, remove):
        if self.error is not None:
            raise self.error
        if self.races:
            self.races -= 1
            self.store.assignments |= {(user_id, role_id) for role_id in add}
        super().change_assignments(user_id, add, remove)


def test_all_changes_are_one_write_and_empty_the_permission_cache(store, groups, roles):
    user = store.create_user("alice", "x")
    store.assign_role_to_user(user.id, roles[ANALYSTS])
    cleared = []
    sync = make_sync(store, groups)
    sync.after_write = lambda: cleared.append(True)
    assert sync.apply(plan_for(DS), "alice") is True
    assert groups.calls["change_assignments"] == 1
    assert cleared == [True]
    assert sync.apply(plan_for(DS), "alice") is False
    assert cleared == [True]  # nothing written, nothing emptied


def test_a_concurrent_login_doing_the_same_is_not_an_error():
    store = FakeMlflowStore()
    groups = RacingGroups(store)
    ds = store.create_role(managed_role_name(DS))
    analysts = store.create_role(managed_role_name(ANALYSTS))
    user = store.create_user("alice", "x")
    sync = make_sync(store, groups)
    assert sync.apply(plan_for(DS, ANALYSTS), "alice") is False  # the other login did it
    assert store.assignments == {(user.id, ds), (user.id, analysts)}
    groups.races = 1
    assert sync.apply(plan_for(DS), "alice") is True  # raced, read again, then unassigned
    assert store.assignments == {(user.id, ds)}


def test_a_write_that_keeps_failing_is_not_retried_forever():
    store = FakeMlflowStore()
    groups = RacingGroups(store, races=10)
    store.create_role(managed_role_name(DS))
    user = store.create_user("alice", "x")

    class AlwaysTaken(RacingGroups):
        def change_assignments(self, user_id, add, remove):
            self.calls["change_assignments"] += 1
            raise sa.exc.IntegrityError("INSERT", {}, Exception("unique"))

    groups = AlwaysTaken(store)
    with pytest.raises(sa.exc.IntegrityError):
        make_sync(store, groups).apply(plan_for(DS), "alice")
    assert groups.calls["change_assignments"] == 3
    assert store.assignments == set()
    assert user.id


def test_other_database_errors_propagate():
    store = FakeMlflowStore()
    error = sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
    groups = RacingGroups(store, error=error)
    store.create_role(managed_role_name(DS))
    store.create_user("alice", "x")
    with pytest.raises(sa.exc.OperationalError):
        make_sync(store, groups).apply(plan_for(DS), "alice")


def test_apply_needs_the_user_row(store, groups, roles):
    with pytest.raises(MlflowException) as raised:
        make_sync(store, groups).apply(plan_for(DS), "nobody")
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


# -- role_changes -------------------------------------------------------------------


def test_role_changes_edges():
    assert role_changes(set(), set()) == (set(), set())
    assert role_changes(set(), {1, 2}) == ({1, 2}, set())
    assert role_changes({1, 2}, set()) == (set(), {1, 2})
    assert role_changes({1}, {2}) == ({2}, {1})


@pytest.mark.parametrize("seed", [5, 8, 13])
def test_role_changes_lead_from_what_is_to_what_should_be(seed):
    rng = random.Random(seed)
    for _ in range(300):
        assigned = set(rng.sample(range(12), rng.randint(0, 12)))
        wanted = set(rng.sample(range(12), rng.randint(0, 12)))
        before = (set(assigned), set(wanted))
        to_assign, to_unassign = role_changes(assigned, wanted)
        assert (assigned | to_assign) - to_unassign == wanted
        assert not to_assign & assigned  # never re-assigns
        assert to_unassign <= assigned  # never unassigns what is not there
        assert not to_assign & to_unassign
        assert (assigned, wanted) == before  # inputs untouched
