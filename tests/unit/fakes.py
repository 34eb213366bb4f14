"""In-memory stand-ins for the directory and the stores, for the unit tests.

Each fake keeps what the code under test relies on of the real object and nothing
more, and counts its calls so a test can say "no directory call happened".
``test_fakes_contract.py`` runs the same checks against the fakes and the real stores
(MLflow's ``SqlAlchemyStore``, ``GroupStore``, ``AccountStore`` on SQLite), so the
fakes cannot drift from what they stand for.
"""

from __future__ import annotations

import itertools
import warnings
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace

import sqlalchemy as sa
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

from mlflow_ldap_auth.auth.access import managed_role_name
from mlflow_ldap_auth.auth.accounts import Created
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.directory import DirectoryGroup, DirectoryUser
from mlflow_ldap_auth.ldap.dn import InvalidDn, dn_key
from mlflow_ldap_auth.mappings.store import MappedGroup
from mlflow_ldap_auth.mlflow_compat.mlflow_tables import NO_LOCAL_PASSWORD

BASE = "dc=example,dc=org"


def group_dn(name: str) -> str:
    return f"cn={name},ou=groups,{BASE}"


def directory_user(
    username: str, groups: dict[str, str | None] | None = None, dn: str | None = None
) -> DirectoryUser:
    """A user as ``Directory.authenticate`` returns it; ``groups``: DN -> stable id."""
    groups = groups or {}
    return DirectoryUser(
        dn=dn or f"uid={username},ou=people,{BASE}",
        username=username,
        direct_group_dns=frozenset(groups),
        group_dns=frozenset(groups),
        group_uuids=tuple((group, uuid) for group, uuid in groups.items() if uuid),
    )


class Tripwire:
    """Fails the test on any use: stands in for something that must not be touched."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        raise AssertionError(f"{self._name}.{attribute} was used")


# -- the directory ------------------------------------------------------------------


class FakeDirectory:
    """Users by login name, groups by DN (matched structurally, as a server does)."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}
        self.users: dict[str, DirectoryUser] = {}
        self.groups: list[DirectoryGroup] = []
        self.calls: Counter[str] = Counter()
        self.guards: list[object] = []
        #: Raised by every call while set (e.g. ``DirectoryUnavailable``).
        self.failure: Exception | None = None

    def add_user(self, login: str, password: str, user: DirectoryUser) -> DirectoryUser:
        self.passwords[login] = password
        self.users[login] = user
        return user

    def add_group(
        self, dn: str, uuid: str | None, name: str | None = None, is_group: bool = True
    ) -> DirectoryGroup:
        group = DirectoryGroup(dn=dn, uuid=uuid, name=name, is_group=is_group)
        self.groups.append(group)
        return group

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.failure is not None:
            raise self.failure

    def authenticate(self, login: str, password: str, guard=None) -> DirectoryUser:
        self.guards.append(guard)
        self._call("authenticate")
        if login not in self.users or self.passwords[login] != password:
            raise InvalidCredentials(f"bind of {login!r} refused", reason="bad_password")
        return self.users[login]

    def read_group(self, group_dn: str) -> DirectoryGroup | None:
        self._call("read_group")
        try:
            key = dn_key(group_dn)
        except InvalidDn:
            return None
        return next((group for group in self.groups if dn_key(group.dn) == key), None)

    def find_group_by_uuid(self, group_uuid: str) -> DirectoryGroup | None:
        self._call("find_group_by_uuid")
        wanted = group_uuid.lower()
        return next((g for g in self.groups if g.uuid and g.uuid.lower() == wanted), None)


def unavailable() -> DirectoryUnavailable:
    return DirectoryUnavailable("no directory server answered", reason="connect_failed")


# -- MLflow's auth store ------------------------------------------------------------


@dataclass(frozen=True)
class FakeUser:
    id: int
    username: str
    is_admin: bool


class FakeMlflowStore:
    """The part of MLflow's ``SqlAlchemyStore`` that login, provisioning and role sync use.

    ``password_hash`` stands for the ``users.password_hash`` column: like MLflow's
    salted hash, it changes at every password update, even to the same password.
    """

    def __init__(self) -> None:
        self._users: dict[str, FakeUser] = {}
        self._passwords: dict[str, str] = {}
        self._hashes: dict[str, str] = {}
        self.roles: dict[int, str] = {}
        self.assignments: set[tuple[int, int]] = set()
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._hash_serial = itertools.count(1)

    # users
    def has_user(self, username: str) -> bool:
        self.calls["has_user"] += 1
        return username in self._users

    def holds(self, username: str) -> bool:
        """Whether the user table has a row of that name (a write's unique key; uncounted)."""
        return username in self._users

    def get_user(self, username: str) -> FakeUser:
        self.calls["get_user"] += 1
        if username not in self._users:
            raise MlflowException(f"no user {username!r}", RESOURCE_DOES_NOT_EXIST)
        return self._users[username]

    def create_user(self, username: str, password: str, is_admin: bool = False) -> FakeUser:
        self.calls["create_user"] += 1
        if username in self._users:
            raise MlflowException(f"User {username!r} already exists", RESOURCE_ALREADY_EXISTS)
        self._users[username] = FakeUser(next(self._ids), username, is_admin)
        self._set_password(username, password)
        return self._users[username]

    def replace_admin_flag(self, username: str, is_admin: bool) -> bool:
        """What ``mlflow_tables.replace_admin_flag`` writes past the store: the flag before."""
        self.calls["replace_admin_flag"] += 1
        before = self._users[username].is_admin
        self._users[username] = replace(self._users[username], is_admin=is_admin)
        return before

    def add_directory_user(self, username: str, is_admin: bool) -> FakeUser:
        """The row ``mlflow_tables.insert_directory_user`` writes past the store: no password."""
        self.calls["add_directory_user"] += 1
        self._users[username] = FakeUser(next(self._ids), username, is_admin)
        self._hashes[username] = NO_LOCAL_PASSWORD
        return self._users[username]

    def update_user(self, username: str, password: str | None = None, is_admin: bool | None = None):
        self.calls["update_user"] += 1
        user = self.get_user(username)
        if password is not None:
            self._set_password(username, password)
        if is_admin is not None:
            self._users[username] = replace(user, is_admin=is_admin)
        return self._users[username]

    def authenticate_user(self, username: str, password: str) -> bool:
        self.calls["authenticate_user"] += 1
        return username in self._passwords and self._passwords[username] == password

    def _set_password(self, username: str, password: str) -> None:
        self._passwords[username] = password
        self._hashes[username] = f"fake-hash-{next(self._hash_serial)}"

    def password_hash(self, username: str) -> str | None:
        return self._hashes.get(username)

    # roles (only their names matter to the role sync)
    def create_role(self, name: str, workspace: str = "default", description: str | None = None):
        role_id = next(self._ids)
        self.roles[role_id] = name
        return role_id

    def assign_role_to_user(self, user_id: int, role_id: int) -> None:
        self.calls["assign_role_to_user"] += 1
        if (user_id, role_id) in self.assignments:
            raise MlflowException("assignment exists", RESOURCE_ALREADY_EXISTS)
        self.assignments.add((user_id, role_id))

    def unassign_role_from_user(self, user_id: int, role_id: int) -> None:
        self.calls["unassign_role_from_user"] += 1
        if (user_id, role_id) not in self.assignments:
            raise MlflowException("no such assignment", RESOURCE_DOES_NOT_EXIST)
        self.assignments.discard((user_id, role_id))


# -- the plugin's own tables --------------------------------------------------------


class FakeGroupStore:
    """``mappings.store.GroupStore`` in memory; reads roles from a ``FakeMlflowStore``."""

    def __init__(self, store: FakeMlflowStore | None = None) -> None:
        self.store = store or FakeMlflowStore()
        self._rows: dict[str, MappedGroup] = {}
        self._ids = itertools.count(1)
        self.calls: Counter[str] = Counter()

    def list(self) -> list[MappedGroup]:
        self.calls["list"] += 1
        return sorted(self._rows.values(), key=lambda row: row.dn)

    def by_uuid(self, group_uuid: str) -> MappedGroup | None:
        return self._rows.get(group_uuid.lower())

    def relevant_to(self, group_uuids) -> list[MappedGroup]:
        self.calls["relevant_to"] += 1
        wanted = {uuid.lower() for uuid in group_uuids if uuid}
        rows = [row for row in self._rows.values() if row.uuid in wanted or row.is_admin]
        return sorted(rows, key=lambda row: row.dn)

    def upsert(self, group_uuid: str, dn: str, name: str | None) -> MappedGroup:
        self.calls["upsert"] += 1
        group_uuid = group_uuid.lower()
        existing = self._rows.get(group_uuid)
        if existing is None:
            self._rows[group_uuid] = MappedGroup(next(self._ids), group_uuid, dn, name, False)
        elif existing.dn != dn or (name and existing.name != name):
            self._rows[group_uuid] = replace(existing, dn=dn, name=name or existing.name)
        return self._rows[group_uuid]

    def set_admin(self, group_uuid: str, is_admin: bool) -> None:
        row = self._rows.get(group_uuid.lower())
        if row is not None:
            self._rows[row.uuid] = replace(row, is_admin=is_admin)

    def delete(self, group_uuid: str) -> None:
        self._rows.pop(group_uuid.lower(), None)

    def managed_roles_of(self, group_uuids) -> list[tuple[int, str]]:
        self.calls["managed_roles_of"] += 1
        names = {managed_role_name(uuid) for uuid in group_uuids if uuid}
        return [(rid, name) for rid, name in self.store.roles.items() if name in names]

    def assigned_roles(self, user_id: int, prefix: str) -> set[int]:
        self.calls["assigned_roles"] += 1
        return {
            role_id
            for uid, role_id in self.store.assignments
            if uid == user_id and self.store.roles.get(role_id, "").startswith(prefix)
        }

    def change_assignments(self, user_id: int, add: set[int], remove: set[int]) -> None:
        self.calls["change_assignments"] += 1
        if any((user_id, role_id) in self.store.assignments for role_id in add):
            raise sa.exc.IntegrityError("INSERT user_role_assignments", {}, Exception("unique"))
        self.store.assignments -= {(user_id, role_id) for role_id in remove}
        self.store.assignments |= {(user_id, role_id) for role_id in add}


class FakeAccounts:
    """``auth.accounts.AccountStore`` in memory; password hashes from a ``FakeMlflowStore``."""

    def __init__(self, store: FakeMlflowStore) -> None:
        self.store = store
        self.origins: dict[str, str] = {}
        self.calls: Counter[str] = Counter()

    def is_known(self, username: str) -> bool:
        return username in self.origins

    def adopt(self, username: str, is_admin: bool) -> bool | None:
        if username in self.origins or not self.store.holds(username):
            return None
        self.origins[username] = "adopted"
        return self.store.replace_admin_flag(username, is_admin)

    def create_directory_user(
        self, username: str, is_admin: bool, roles: Collection[int] = ()
    ) -> Created | None:
        self.calls["create_directory_user"] += 1
        if username in self.origins or self.store.holds(username):
            return None
        user_id = self.store.add_directory_user(username, is_admin).id
        self.origins[username] = "provisioned"
        self.store.assignments |= {(user_id, role_id) for role_id in roles}
        return Created(user_id, roles_assigned=bool(roles))

    def create_user_row(self, username: str, is_admin: bool) -> bool:
        if self.store.has_user(username):
            return False
        self.store.add_directory_user(username, is_admin)
        return True

    def stored_password_hash(self, username: str) -> str | None:
        return self.store.password_hash(username)


# -- fake or real, behind one face ----------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """MLflow's auth store and the plugin's stores on it, as the login path sees them."""

    kind: str
    store: object
    groups: object
    accounts: object

    def create_role(self, name: str) -> int:
        role = self.store.create_role(name, "default", None)
        return role if isinstance(role, int) else role.id


def fake_backend() -> Backend:
    store = FakeMlflowStore()
    return Backend("fake", store, FakeGroupStore(store), FakeAccounts(store))


def real_backend(directory) -> Backend:
    """MLflow's ``SqlAlchemyStore`` and the plugin's tables in one SQLite file under
    ``directory``, as a server has them in ``database_uri`` (no server involved)."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    from mlflow_ldap_auth.auth.accounts import AccountStore
    from mlflow_ldap_auth.db import tables
    from mlflow_ldap_auth.mappings.store import GroupStore

    uri = f"sqlite:///{directory}/auth.db"
    store = SqlAlchemyStore()
    with warnings.catch_warnings():
        # MLflow's own alembic configuration (third-party noise; not the plugin's).
        warnings.filterwarnings(
            "ignore", message="No path_separator found", category=DeprecationWarning
        )
        store.init_db(uri)
    tables.migrate(store.engine)
    return Backend("real", store, GroupStore(uri, engine=store.engine), AccountStore(store.engine))


def make_backend(kind: str, directory) -> Backend:
    return fake_backend() if kind == "fake" else real_backend(directory)


_MIGRATED_TEMPLATE: list[str] = []


def plugin_engine(directory):
    """An engine on a new SQLite file holding the plugin's tables at the newest revision.

    Migrated once per test session and copied: alembic takes ~0.3 s per run.
    """
    import shutil
    import tempfile

    from mlflow_ldap_auth.db import tables

    if not _MIGRATED_TEMPLATE:
        template = f"{tempfile.mkdtemp(prefix='plugin-db.')}/auth.db"
        tables.migrate(tables.create_engine(f"sqlite:///{template}"))
        _MIGRATED_TEMPLATE.append(template)
    target = f"{directory}/auth.db"
    shutil.copyfile(_MIGRATED_TEMPLATE[0], target)
    return tables.create_engine(f"sqlite:///{target}")


class Clock:
    """A settable ``time.time`` for caches and rules that take a clock (or timer)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now
