"""How WhoHasAccess gathers routes and previews, with the directory and MLflow's store
stood in for by small fakes (the real ones: tests/test_who_has_access.py)."""

from types import SimpleNamespace

from mlflow_ldap_auth.auth.access import Mapping
from mlflow_ldap_auth.ldap.dn import dn_key
from mlflow_ldap_auth.ldap.group_members import GroupMember, MemberList
from mlflow_ldap_auth.mappings.who_has_access import WhoHasAccess, _Walks

PEOPLE = "ou=people,dc=example,dc=org"
GROUP_A, GROUP_B, ADMINS = "cn=a,dc=g", "cn=b,dc=g", "cn=admins,dc=g"


def members(group_dn, *names):
    people = tuple(GroupMember(name, f"uid={name},{PEOPLE}") for name in names)
    return MemberList(
        group_dn=group_dn,
        members=people,
        count=len(people),
        person_keys=frozenset(dn_key(p.dn) for p in people),
        member_uids=frozenset(),
    )


class FakeDirectory:
    def __init__(self, groups, moved=None):
        self.groups = groups
        self.moved = moved or {}  # group uuid -> its DN now
        self.walks = []

    def find_group_by_uuid(self, group_uuid):
        dn = self.moved.get(group_uuid)
        return SimpleNamespace(dn=dn) if dn else None

    def group_members(self, group_dn, limit=200):
        self.walks.append(group_dn)
        return self.groups[group_dn]


class FakeStore:
    def __init__(self, users=(), roles=(), assignments=None):
        self.users, self.roles, self.assignments = list(users), list(roles), assignments or {}

    def list_users(self):
        return self.users

    def list_roles(self, workspaces):
        return [role for role in self.roles if role.workspace in workspaces]

    def list_role_users(self, role_id):
        return [SimpleNamespace(user_id=uid) for uid in self.assignments.get(role_id, ())]


def mapping(id_, group, permission, pattern="7", resource_type="experiment"):
    workspace = "*" if resource_type == "admin" else "default"
    return Mapping(id_, group, id_, None, resource_type, pattern, permission, workspace)


def _walks(directory):
    return _Walks(directory)


def reporter(directory, store=None, admin_groups=(), allowed_groups=(), default="READ"):
    settings = SimpleNamespace(admin_group_dns=admin_groups, allowed_group_dns=allowed_groups)
    return WhoHasAccess(store or FakeStore(), None, directory, None, settings, default)


def test_a_person_in_two_changed_groups_counts_once():
    directory = FakeDirectory(
        {GROUP_A: members(GROUP_A, "alice", "bob"), GROUP_B: members(GROUP_B, "bob", "carol")}
    )
    added = [mapping("grant-1", GROUP_A, "EDIT"), mapping("grant-2", GROUP_B, "EDIT")]
    (preview,) = reporter(directory).preview([], added, added)
    assert preview.member_count == 3
    assert [(c.user, c.before, c.after, c.gain) for c in preview.changes] == [
        ("alice", None, "EDIT", True),
        ("bob", None, "EDIT", True),
        ("carol", None, "EDIT", True),
    ]
    assert directory.walks.count(GROUP_A) == 1  # each group read once per preview


def test_a_higher_grant_elsewhere_means_no_change_and_deny_is_a_loss():
    directory = FakeDirectory(
        {GROUP_A: members(GROUP_A, "alice", "bob"), GROUP_B: members(GROUP_B, "bob")}
    )
    existing = [mapping("grant-1", GROUP_B, "MANAGE")]
    new = mapping("grant-2", GROUP_A, "EDIT")
    (preview,) = reporter(directory).preview(existing, [*existing, new], [new])
    assert [(c.user, c.after) for c in preview.changes] == [("alice", "EDIT")]
    deny = mapping("grant-3", GROUP_A, "DENY")
    (preview,) = reporter(directory).preview(existing, [*existing, deny], [deny])
    assert [(c.user, c.before, c.after, c.gain) for c in preview.changes] == [
        ("alice", None, "DENY", False),
        ("bob", "MANAGE", "DENY", False),
    ]


def test_admin_preview_lists_only_new_admins():
    directory = FakeDirectory(
        {GROUP_A: members(GROUP_A, "alice", "carol"), ADMINS: members(ADMINS, "carol")}
    )
    new = mapping("admin-1", GROUP_A, "MANAGE", pattern="*", resource_type="admin")
    (preview,) = reporter(directory, admin_groups=(ADMINS,)).preview([], [new], [new])
    assert preview.resource_type == "admin"
    assert [(c.user, c.before, c.after) for c in preview.changes] == [("alice", None, "MANAGE")]


def test_mlflow_routes_user_grants_roles_and_the_admin_flag():
    users = [
        SimpleNamespace(id=1, username="dave", is_admin=False),
        SimpleNamespace(id=2, username="root", is_admin=True),
    ]
    grant = SimpleNamespace(resource_type="experiment", resource_pattern="7", permission="EDIT")
    other = SimpleNamespace(resource_type="experiment", resource_pattern="8", permission="DENY")
    roles = [
        SimpleNamespace(id=10, name="__user_1__", workspace="default", permissions=[grant]),
        SimpleNamespace(id=11, name="reviewers", workspace="default", permissions=[other]),
        SimpleNamespace(id=12, name="ldap-group:x", workspace="default", permissions=[grant]),
    ]
    store = FakeStore(users, roles, {10: [1], 11: [1], 12: [2]})
    routes, _ = reporter(FakeDirectory({}), store)._routes(
        "experiment", "7", "default", [], _walks(FakeDirectory({}))
    )
    assert {name: [r.kind for r in found] for name, found in routes.routes.items()} == {
        "dave": ["user_grant"],  # the role on experiment 8 does not speak about 7
        "root": ["admin"],  # the managed role is the directory's business
    }


class FakePolicy:
    """Allows the names it is given (the real rule is AccessPolicy.decide's)."""

    groups = SimpleNamespace(list=lambda: [])

    def __init__(self, allowed):
        self.allowed = set(allowed)
        self.configured = SimpleNamespace(admin_group_uuids=dict)

    def decide(self, user, mapped):
        return SimpleNamespace(allowed=user.username in self.allowed)


def test_people_the_access_decision_refuses_are_marked():
    directory = FakeDirectory({GROUP_A: members(GROUP_A, "alice", "eve", "gone")})
    asked = []

    def lookup_many(names):
        asked.append(sorted(names))
        return {name: None if name == "gone" else SimpleNamespace(username=name) for name in names}

    directory.lookup_many = lookup_many
    settings = SimpleNamespace(admin_group_dns=(), allowed_group_dns=("cn=allowed,dc=g",))
    access = WhoHasAccess(
        FakeStore(), None, directory, None, settings, "READ", policy=FakePolicy({"alice"})
    )
    routes, _ = access._routes(
        "experiment", "7", "default", [mapping("grant-1", GROUP_A, "READ")], _walks(directory)
    )
    assert routes.refused == {"eve", "gone"}
    assert asked == [["alice", "eve", "gone"]]  # one batched look-up
    assert "cn=allowed,dc=g" not in directory.walks  # the allowed group is not walked


def test_a_renamed_group_is_walked_at_its_current_dn():
    renamed = "cn=a-renamed,dc=g"
    directory = FakeDirectory({renamed: members(renamed, "alice")}, moved={"grant-1": renamed})
    routes, groups = reporter(directory)._routes(
        "experiment", "7", "default", [mapping("grant-1", GROUP_A, "EDIT")], _walks(directory)
    )
    assert [route.group for route in routes.routes["alice"]] == [renamed]
    assert [group.group for group in groups] == [renamed]


def test_a_renamed_admin_group_is_walked_where_it_is_now():
    renamed = "cn=admins-renamed,dc=g"
    directory = FakeDirectory({renamed: members(renamed, "carol")}, moved={"uuid-admins": renamed})
    policy = FakePolicy({"carol"})
    policy.configured = SimpleNamespace(admin_group_uuids=lambda: {ADMINS: "uuid-admins"})
    settings = SimpleNamespace(admin_group_dns=(ADMINS,), allowed_group_dns=())
    access = WhoHasAccess(FakeStore(), None, directory, None, settings, "READ", policy=policy)
    routes, _ = access._routes("experiment", "7", "default", [], _walks(directory))
    assert [route.group for route in routes.routes["carol"]] == [renamed]
    assert directory.walks == [renamed]
