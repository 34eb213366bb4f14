"""The keytab reader (kerberos/keytab.py) on files MIT's own ktutil writes, and on files
that are not keytabs: a sentence each, never a traceback, and never the key."""

import shutil

import pytest

from kerberos_realm import write_keytab
from mlflow_ldap_auth.errors import KeytabError
from mlflow_ldap_auth.kerberos.keytab import (
    KeytabEntry,
    default_service_principal,
    parse_keytab,
    read_keytab,
)

REALM = "CORP.EXAMPLE.COM"
#: (principal, kvno, enctype) in the order ktutil writes them. 300 does not fit the
#: entry's 8-bit key version: MIT writes the 32-bit one after the key.
KEYS = [
    (f"host/mlflow.corp.example.com@{REALM}", 3, "aes128-cts-hmac-sha1-96"),
    (f"HTTP/mlflow.corp.example.com@{REALM}", 300, "aes256-cts-hmac-sha1-96"),
    (f"HTTP/mlflow.corp.example.com@{REALM}", 299, "aes128-cts-hmac-sha1-96"),
    (f"HTTP/other.corp.example.com@{REALM}", 1, "aes256-cts-hmac-sha1-96"),
]
PASSWORD = "throwaway-Passw0rd"


@pytest.fixture(scope="module")
def keytab(tmp_path_factory):
    """A keytab written by MIT's ktutil (krb5-user, installed by .ci/setup)."""
    assert shutil.which("ktutil"), "ktutil (Debian krb5-user) is needed: run .ci/setup"
    return write_keytab(tmp_path_factory.mktemp("keytab") / "http.keytab", KEYS, PASSWORD)


def test_every_entry_is_read_with_its_principal_key_version_and_enctype(keytab):
    entries = read_keytab(keytab)
    assert [(e.principal, e.kvno, e.enctype_name) for e in entries] == KEYS
    assert entries[1].components == ("HTTP", "mlflow.corp.example.com")
    assert entries[1].realm == REALM
    assert entries[1].name == "HTTP/mlflow.corp.example.com"
    assert entries[1].enctype == 18


def test_no_entry_holds_the_key(keytab):
    """The key's bytes are in the file and nowhere in what the reader returns."""
    data = keytab.read_bytes()
    entries = read_keytab(keytab)
    # The first entry's key: after its fixed fields, a 16-bit length and the key.
    first = entries[0]
    key_at = 2 + 4 + 2 + 2 + len(REALM) + sum(2 + len(c) for c in first.components) + 4 + 4 + 1
    key_length = int.from_bytes(data[key_at + 2 : key_at + 4], "big")
    key = data[key_at + 4 : key_at + 4 + key_length]
    assert key_length == 16 and len(key) == 16
    for entry in entries:
        assert set(vars(entry)) == {"components", "realm", "kvno", "enctype"}
        assert key.hex() not in repr(entry) and repr(key) not in repr(entry)


def test_the_default_service_principal_is_the_first_http_one(keytab):
    assert default_service_principal(read_keytab(keytab)) == f"HTTP/mlflow.corp.example.com@{REALM}"
    assert default_service_principal(read_keytab(keytab)[:1]) is None


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (f"HTTP/mlflow.corp.example.com@{REALM}", True),
        ("HTTP/mlflow.corp.example.com@corp.example.com", True),
        ("HTTP/mlflow.corp.example.com", True),
        ("http/mlflow.corp.example.com", False),
        ("HTTP/mlflow.corp.example.com@OTHER.EXAMPLE", False),
        ("HTTP/mlflow", False),
    ],
)
def test_an_entry_is_the_configured_principals(configured, expected):
    entry = KeytabEntry(("HTTP", "mlflow.corp.example.com"), REALM, 2, 18)
    assert entry.is_principal(configured) is expected


def test_a_deleted_entry_is_skipped(keytab):
    """ktutil's delete turns an entry's size negative: a hole the reader steps over."""
    data = bytearray(keytab.read_bytes())
    size = int.from_bytes(data[2:6], "big", signed=True)
    data[2:6] = (-size).to_bytes(4, "big", signed=True)
    assert [e.principal for e in parse_keytab(bytes(data))] == [k[0] for k in KEYS[1:]]


def test_a_zero_size_ends_the_entries(keytab):
    data = keytab.read_bytes()
    assert parse_keytab(data[:2] + b"\0\0\0\0" + data[2:]) == []


@pytest.mark.parametrize("cut", [1, 3, 5, 20, 40, -1, -4])
def test_a_truncated_keytab_is_a_sentence(keytab, cut):
    data = keytab.read_bytes()
    with pytest.raises(KeytabError, match=r"http\.keytab: (truncated|empty)"):
        parse_keytab(data[:cut], "http.keytab")


def test_an_entry_whose_fields_run_past_its_size_is_a_sentence(keytab):
    data = bytearray(keytab.read_bytes())
    data[6:8] = (40).to_bytes(2, "big")  # forty components in an entry of ~80 bytes
    with pytest.raises(KeytabError, match="truncated: an entry ends inside a field"):
        parse_keytab(bytes(data))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty or too short"),
        (b"\x05\x01\0\0\0\0", "not a keytab of format 0x0502 \\(starts with 0x0501\\)"),
        (b"[libdefaults]\n", "not a keytab of format 0x0502"),
        (b"\x05\x02", None),
    ],
)
def test_other_files_are_a_sentence(content, message):
    if message is None:
        assert parse_keytab(content) == []
        return
    with pytest.raises(KeytabError, match=message):
        parse_keytab(content)


def test_a_huge_file_is_not_read(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(b"\x05\x02" + b"\0" * (2 * 1024 * 1024))
    with pytest.raises(KeytabError, match="larger than 1048576 bytes"):
        read_keytab(path)
