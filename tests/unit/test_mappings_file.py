"""The mappings file: reading and resolving a document, planning and applying an import."""

from __future__ import annotations

import json
import random

import pytest
from fakes import FakeDirectory, Tripwire, group_dn

from mlflow_ldap_auth.auth.access import Mapping
from mlflow_ldap_auth.ldap.directory import DirectoryGroup
from mlflow_ldap_auth.mappings.file import (
    FORMAT_VERSION,
    MappingsFileError,
    apply_import,
    describe,
    export_document,
    plan_import,
    read_document,
)
from mlflow_ldap_auth.mappings.service import MappingService

DS_UUID = "a43bf8a0-7fd9-1041-98d9-a3ffdc04979c"
ADMINS_UUID = "0c3e5f1a-1111-4c1c-9c1a-0123456789ab"
ANALYSTS_UUID = "7d2b9c44-2222-4a6e-8f00-fedcba987654"


@pytest.fixture(autouse=True)
def _workspaces_off(monkeypatch):
    monkeypatch.delenv("MLFLOW_ENABLE_WORKSPACES", raising=False)


@pytest.fixture
def directory():
    directory = FakeDirectory()
    directory.add_group(group_dn("data-science"), DS_UUID, "data-science")
    directory.add_group(group_dn("mlflow-admins"), ADMINS_UUID, "mlflow-admins")
    directory.add_group(group_dn("analysts"), ANALYSTS_UUID, "analysts")
    directory.add_group("uid=alice,ou=people,dc=example,dc=org", "9a9a", "alice", is_group=False)
    directory.add_group(group_dn("no-id"), None, "no-id")
    return directory


@pytest.fixture
def service(directory):
    # Reading a document resolves groups in the directory and touches no store.
    return MappingService(Tripwire("auth store"), Tripwire("group store"), directory)


def document(*entries, version=FORMAT_VERSION):
    return json.dumps({"version": version, "group_mappings": list(entries)})


def entry(group=None, **fields):
    base = {
        "group": group or group_dn("data-science"),
        "resource_type": "experiment",
        "resource_pattern": "42",
        "permission": "EDIT",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def stored(id_, uuid, permission="EDIT", pattern="42", resource_type="experiment", dn=None):
    names = {DS_UUID: "data-science", ADMINS_UUID: "mlflow-admins", ANALYSTS_UUID: "analysts"}
    workspace = "*" if resource_type == "admin" else "default"
    name = names.get(uuid, uuid)
    return Mapping(
        id_, dn or group_dn(name), uuid, name, resource_type, pattern, permission, workspace
    )


def problems_of(text, service):
    with pytest.raises(MappingsFileError) as raised:
        read_document(text, service)
    return str(raised.value)


# -- reading ------------------------------------------------------------------------


def test_an_entry_is_validated_normalized_and_resolved(service):
    [mapping] = read_document(
        document(
            entry(
                group="  " + group_dn("data-science") + " ",
                resource_pattern=" 42 ",
                permission=" edit ",
                workspace=" default ",
            )
        ),
        service,
    )
    assert mapping == Mapping(
        "", group_dn("data-science"), DS_UUID, "data-science", "experiment", "42", "EDIT", "default"
    )


def test_pattern_and_workspace_have_defaults(service):
    [mapping] = read_document(document(entry(resource_pattern=..., workspace=...)), service)
    assert (mapping.resource_pattern, mapping.workspace) == ("*", "default")


@pytest.mark.parametrize(
    "spelling",
    [
        "CN=Data-Science,OU=Groups,DC=Example,DC=Org",
        "cn = data-science , ou = groups , dc = example , dc = org",
        "commonName=data-science,organizationalUnitName=groups,dc=example,dc=org",
        "2.5.4.3=DATA-SCIENCE,2.5.4.11=groups,0.9.2342.19200300.100.1.25=example,dc=org",
        "cn=data\\2dscience,ou=groups,dc=example,dc=org",
    ],
)
def test_a_group_in_another_spelling_is_the_same_group(service, spelling):
    [mapping] = read_document(document(entry(group=spelling)), service)
    # The directory's DN and stable id, whatever the file's spelling.
    assert (mapping.group, mapping.group_uuid) == (group_dn("data-science"), DS_UUID)
    existing = [stored("grant-1", DS_UUID)]
    assert plan_import([mapping], existing) == ([], [])


def test_a_look_alike_dn_is_not_the_group(service):
    look_alike = "cn=data-science+ou=groups,dc=example,dc=org"
    message = problems_of(document(entry(group=look_alike)), service)
    assert "group_mappings[0]" in message and "no group" in message


def test_the_stable_id_finds_a_renamed_group(service, directory):
    directory.groups[0] = DirectoryGroup(group_dn("data-science-team"), DS_UUID, "data-science")
    [mapping] = read_document(
        document(entry(group=group_dn("data-science"), group_uuid=DS_UUID.upper())), service
    )
    assert (mapping.group, mapping.group_uuid) == (group_dn("data-science-team"), DS_UUID)


def test_dn_and_stable_id_of_different_groups_are_refused(service):
    message = problems_of(document(entry(group_uuid=ANALYSTS_UUID)), service)
    assert "name different directory entries" in message
    assert group_dn("data-science") in message and group_dn("analysts") in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"group_uuid": "ffffffff-0000-0000-0000-000000000000"}, "no group with id"),
        ({"group": group_dn("nobody")}, "no group 'cn=nobody"),
        ({"group": "uid=alice,ou=people,dc=example,dc=org"}, "is not a group"),
        ({"group": group_dn("no-id")}, "no entryUUID / objectGUID"),
    ],
)
def test_groups_the_directory_cannot_vouch_for_are_refused(service, fields, expected):
    message = problems_of(document(entry(**fields)), service)
    assert message.startswith("group_mappings[0]: ")
    assert expected in message


def test_an_admin_entry_applies_to_every_workspace(service):
    [mapping] = read_document(
        document(
            entry(
                group=group_dn("mlflow-admins"),
                resource_type="admin",
                resource_pattern=...,
                permission="manage",
                workspace="default",
            )
        ),
        service,
    )
    assert (mapping.resource_type, mapping.resource_pattern, mapping.permission) == (
        "admin",
        "*",
        "MANAGE",
    )
    assert mapping.workspace == "*"
    assert plan_import([mapping], [stored("admin-3", ADMINS_UUID, "MANAGE", "*", "admin")]) == (
        [],
        [],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not JSON"),
        ("[]", '"version": 1'),
        ('"mappings"', '"version": 1'),
        ('{"group_mappings": []}', '"version": 1'),
        ('{"version": 2, "group_mappings": []}', '"version": 1'),
        ('{"version": "1", "group_mappings": []}', '"version": 1'),
        ('{"version": 1}', '"group_mappings" must be a list'),
        ('{"version": 1, "group_mappings": {}}', '"group_mappings" must be a list'),
        ('{"version": 1, "group_mappings": null}', '"group_mappings" must be a list'),
    ],
)
def test_a_document_that_is_not_a_mappings_file_is_refused(service, directory, text, expected):
    with pytest.raises(MappingsFileError, match=expected):
        read_document(text, service)
    assert not directory.calls


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("a string", "group_mappings[0]: not an object"),
        (["a", "list"], "group_mappings[0]: not an object"),
        (entry(id="grant-1"), "unknown field(s) ['id']"),
        (entry(group_name="ds", colour="blue"), "unknown field(s) ['colour', 'group_name']"),
        (entry(group=...), "'group' must be a non-empty string"),
        (entry(group="  "), "'group' must be a non-empty string"),
        (entry(permission=...), "'permission' must be a non-empty string"),
        (entry(resource_type=3), "'resource_type' must be a non-empty string"),
        (entry(resource_pattern=None), "'resource_pattern' must be a non-empty string"),
        (entry(group="data-science"), "'group' is not a valid DN"),
        (entry(group="cn=a;dc=x"), "'group' is not a valid DN"),
        (entry(permission="WRITE"), "WRITE"),
        (entry(permission="NO_PERMISSIONS"), "NO_PERMISSIONS"),
        (entry(resource_type="spaceship"), "spaceship"),
        (entry(resource_type="workspace", resource_pattern="*", permission="READ"), "READ"),
        (entry(resource_type="admin", resource_pattern="*", permission="EDIT"), "admin mapping"),
        (entry(resource_type="admin", resource_pattern="42", permission="MANAGE"), "admin"),
        (entry(workspace="team-a"), "workspaces are not enabled"),
        (entry(group_uuid=42), "'group_uuid' must be a string"),
    ],
)
def test_a_bad_entry_is_refused_before_any_directory_lookup(service, directory, bad, expected):
    message = problems_of(document(bad), service)
    assert message.startswith("group_mappings[0]: ")
    assert expected in message
    assert not directory.calls


def test_every_problem_is_reported_at_once_and_nothing_is_returned(service):
    message = problems_of(
        document(
            entry(permission="WRITE"),
            entry(),  # fine
            entry(group=group_dn("nobody")),
            "junk",
        ),
        service,
    )
    parts = message.split("; ")
    assert [part.split(":")[0] for part in parts] == [
        "group_mappings[0]",
        "group_mappings[2]",
        "group_mappings[3]",
    ]


def test_workspaces_can_be_named_when_the_server_has_them(service, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    [a, b] = read_document(document(entry(workspace="team-a"), entry(workspace="default")), service)
    assert (a.workspace, b.workspace) == ("team-a", "default")
    assert a.key != b.key


def test_an_empty_file_is_valid(service):
    assert read_document(document(), service) == []


# -- planning -----------------------------------------------------------------------


def wanted(uuid, permission="EDIT", pattern="42", resource_type="experiment", dn=None):
    return stored("", uuid, permission, pattern, resource_type, dn)


def test_plan_adds_what_is_new_removes_what_is_gone_keeps_the_rest():
    keep, gone = stored("grant-1", DS_UUID), stored("grant-2", ANALYSTS_UUID, "READ")
    new = wanted(ANALYSTS_UUID, "READ", pattern="7")
    to_add, to_remove = plan_import([wanted(DS_UUID), new], [keep, gone])
    assert to_add == [new]
    assert to_remove == [gone]


def test_the_same_mapping_with_another_id_dn_or_name_is_unchanged():
    existing = [stored("grant-17", DS_UUID)]
    renamed = Mapping(
        "grant-99", "CN=DS,OU=Elsewhere,DC=X", DS_UUID, "ds", "experiment", "42", "EDIT", "default"
    )
    assert plan_import([renamed], existing) == ([], [])


def test_a_changed_permission_is_a_removal_and_an_addition():
    old = stored("grant-1", DS_UUID, "READ")
    new = wanted(DS_UUID, "MANAGE")
    assert plan_import([new], [old]) == ([new], [old])


def test_duplicates_in_the_file_are_added_once():
    one = wanted(DS_UUID)
    twin = wanted(DS_UUID, dn="CN=Data-Science,OU=Groups,DC=example,DC=org")
    to_add, to_remove = plan_import([one, twin, one], [])
    assert [m.key for m in to_add] == [one.key]
    assert to_remove == []
    assert plan_import([one, twin], [stored("grant-1", DS_UUID)]) == ([], [])


def test_an_empty_file_removes_everything():
    existing = [stored("grant-1", DS_UUID), stored("admin-1", ADMINS_UUID, "MANAGE", "*", "admin")]
    assert plan_import([], existing) == ([], existing)
    assert plan_import([], []) == ([], [])


def test_additions_come_in_a_stable_order():
    items = [
        wanted(ANALYSTS_UUID, "READ", pattern="9"),
        wanted(DS_UUID, "EDIT", pattern="1"),
        wanted(ADMINS_UUID, "MANAGE", "*", "admin"),
        wanted(DS_UUID, "EDIT", pattern="*"),
    ]
    first, _ = plan_import(items, [])
    again, _ = plan_import(list(reversed(items)), [])
    assert first == again
    assert [m.key for m in first] == sorted(m.key for m in items)


@pytest.mark.parametrize("seed", [3, 14, 159])
def test_applying_the_plan_leaves_exactly_the_file(seed):
    rng = random.Random(seed)
    universe = [
        (uuid, permission, pattern)
        for uuid in (DS_UUID, ANALYSTS_UUID, ADMINS_UUID)
        for permission in ("READ", "EDIT", "MANAGE")
        for pattern in ("1", "2", "*")
    ]
    for _ in range(200):
        existing = [
            stored(f"grant-{n}", *fields)
            for n, fields in enumerate(rng.sample(universe, rng.randint(0, 8)))
        ]
        file_entries = [wanted(*rng.choice(universe)) for _ in range(rng.randint(0, 8))]
        to_add, to_remove = plan_import(file_entries, existing)
        result = [m for m in existing if m not in to_remove] + to_add
        assert sorted(m.key for m in result) == sorted({m.key for m in file_entries})
        assert all(m in existing for m in to_remove)
        # Declarative: a second run against the result changes nothing.
        assert plan_import(file_entries, result) == ([], [])


# -- exporting and applying ---------------------------------------------------------


def test_export_document_format():
    exported = export_document(
        [
            stored("grant-2", DS_UUID, "READ", pattern="9"),
            stored("admin-1", ADMINS_UUID, "MANAGE", "*", "admin"),
            stored("grant-1", DS_UUID, "EDIT", pattern="1", dn="CN=Data-Science," + "ou=g"),
        ]
    )
    assert exported["version"] == FORMAT_VERSION
    rows = exported["group_mappings"]
    assert [(row["group"].lower(), row["resource_pattern"]) for row in rows] == [
        ("cn=data-science,ou=g", "1"),
        (group_dn("data-science"), "9"),
        (group_dn("mlflow-admins"), "*"),
    ]
    assert rows[2] == {
        "group": group_dn("mlflow-admins"),
        "group_uuid": ADMINS_UUID,
        "resource_type": "admin",
        "resource_pattern": "*",
        "permission": "MANAGE",
        "workspace": "*",
    }
    assert all("id" not in row and "group_name" not in row for row in rows)


def test_an_exported_file_imports_as_no_change(service):
    existing = [
        stored("grant-1", DS_UUID, "EDIT"),
        stored("grant-2", ANALYSTS_UUID, "READ", pattern="*"),
        stored("admin-1", ADMINS_UUID, "MANAGE", "*", "admin"),
    ]
    text = json.dumps(export_document(existing))
    assert plan_import(read_document(text, service), existing) == ([], [])


class RecordingService:
    def __init__(self):
        self.calls = []

    def delete(self, mapping_id, actor=None):
        self.calls.append(("delete", mapping_id, actor))

    def create(self, **fields):
        self.calls.append(("create", fields))


def test_apply_removes_first_then_adds():
    service = RecordingService()
    grant = wanted(DS_UUID, "MANAGE")
    admin = wanted(ADMINS_UUID, "MANAGE", "*", "admin")
    apply_import(service, [grant, admin], [stored("grant-1", DS_UUID, "READ")], actor="ops")
    assert service.calls == [
        ("delete", "grant-1", "ops"),
        (
            "create",
            {
                "group": group_dn("data-science"),
                "group_uuid": DS_UUID,
                "resource_type": "experiment",
                "resource_pattern": "42",
                "permission": "MANAGE",
                "workspace": "default",
                "actor": "ops",
            },
        ),
        (
            "create",
            {
                "group": group_dn("mlflow-admins"),
                "group_uuid": ADMINS_UUID,
                "resource_type": "admin",
                "resource_pattern": "*",
                "permission": "MANAGE",
                "workspace": "default",  # the service's own rule puts admin mappings in "*"
                "actor": "ops",
            },
        ),
    ]


def test_describe_is_one_reviewable_line():
    line = describe(stored("grant-1", DS_UUID, "EDIT"))
    assert line == f"{group_dn('data-science')}: EDIT on experiment '42' in workspace 'default'"
    assert "\n" not in line
