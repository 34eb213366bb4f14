"""Reading stable ids and values from ldap3 entries (plain dicts), no servers."""

import uuid

import pytest

from mlflow_ldap_auth.ldap.directory import group_uuid as reexported
from mlflow_ldap_auth.ldap.entries import all_values, first, group_uuid

GUID = "a43bf8a0-7fd9-1041-98d9-a3ffdc04979c"
#: The same GUID as Active Directory stores objectGUID: the first three fields little-endian.
GUID_BYTES = bytes.fromhex("a0f83ba4d97f411098d9a3ffdc04979c")


def test_entry_uuid_is_read_lower_case():
    entry = {"attributes": {"entryUUID": [GUID.upper()]}}
    assert group_uuid(entry) == GUID
    assert group_uuid({"attributes": {"entryUUID": GUID}}) == GUID


@pytest.mark.parametrize("raw", [[GUID_BYTES], GUID_BYTES])
def test_object_guid_bytes_become_the_guid_string_ad_shows(raw):
    entry = {"attributes": {"objectGUID": ["{...}"]}, "raw_attributes": {"objectGUID": raw}}
    assert group_uuid(entry) == GUID
    assert uuid.UUID(group_uuid(entry)).bytes_le == GUID_BYTES


def test_entry_uuid_wins_over_object_guid():
    other = str(uuid.uuid4())
    entry = {"attributes": {"entryUUID": [other]}, "raw_attributes": {"objectGUID": [GUID_BYTES]}}
    assert group_uuid(entry) == other


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"attributes": None, "raw_attributes": None},
        {"attributes": {"entryUUID": []}, "raw_attributes": {"objectGUID": []}},
        {"raw_attributes": {"objectGUID": [GUID_BYTES[:15]]}},  # not 16 bytes
        {"raw_attributes": {"objectGUID": [GUID]}},  # text, not bytes
    ],
)
def test_no_usable_id_is_none(entry):
    assert group_uuid(entry) is None


def test_the_directory_module_still_offers_group_uuid():
    assert reexported is group_uuid


def test_first_and_all_values_of_single_and_multi_valued_attributes():
    assert first(["a", "b"]) == "a" and first([]) is None and first("a") == "a"
    assert all_values(None) == [] and all_values("a") == ["a"] and all_values(["a"]) == ["a"]
