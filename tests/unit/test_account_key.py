"""The spraying guard's account keys: every spelling slapd binds as one entry, one key.

That slapd does bind these spellings as the same entry is proven against the real
server in ``tests/test_lockout.py`` (direct bind).
"""

import pytest

from mlflow_ldap_auth.ldap.account_key import (
    MAX_KEY_LENGTH,
    account_key,
    prepared,
    unknown_name_key,
)
from mlflow_ldap_auth.ldap.dn import rdn_value

TEMPLATE = "uid={username},ou=people,dc=example,dc=org"


def templated(login: str) -> str:
    return TEMPLATE.format(username=rdn_value(login))


@pytest.mark.parametrize(
    "login",
    [
        "U28",
        " u28\xa0",
        "\u3000u28 ",
        "\uff55\uff12\uff18",  # fullwidth
        "u28  ",
        "\xa0U28\u2003",
        "u\u00ad28",  # a soft hyphen is mapped to nothing
    ],
)
def test_spellings_of_one_entry_share_a_key(login):
    assert account_key(templated(login)) == account_key(templated("u28"))


def test_the_dn_is_compared_by_structure():
    key = account_key("uid=u28,ou=people,dc=example,dc=org")
    assert account_key("UID = u28 , OU=People,DC=Example,DC=Org") == key
    assert account_key("0.9.2342.19200300.100.1.1=u28,ou=people,dc=example,dc=org") != ""
    # Another entry, and a multi-valued RDN, are other accounts.
    assert account_key("uid=u29,ou=people,dc=example,dc=org") != key
    assert account_key("uid=u28+cn=x,ou=people,dc=example,dc=org") != key
    assert account_key("uid=u28\\,ou\\=people,dc=example,dc=org") != key
    # Inner spaces count, once.
    assert account_key(templated("u 28")) == account_key(templated("u  28"))
    assert account_key(templated("u 28")) != account_key(templated("u28"))


def test_names_that_are_not_dns_are_prepared_whole():
    assert account_key("U28@Corp.Example.COM") == account_key("u28@corp.example.com ")
    assert account_key("CORP\\u28") == account_key("corp\\U28")


def test_unknown_names_never_share_a_key_with_an_entry():
    assert unknown_name_key(" U28\xa0") == unknown_name_key("u28")
    assert unknown_name_key("uid=u28,ou=people,dc=example,dc=org") != account_key(
        "uid=u28,ou=people,dc=example,dc=org"
    )


def test_long_keys_are_hashed_to_fit_the_column():
    key = account_key(templated("\ufdfa" * 200))  # one character, 18 after NFKC
    assert key.startswith("sha256:") and len(key) <= MAX_KEY_LENGTH
    assert key == account_key(templated("\ufdfa" * 200 + " "))


def test_prepared_follows_rfc_4518():
    assert prepared("  \uff21lice\u3000\u3000Smith\t") == "alice smith"
    assert prepared("STRASSE") == prepared("straße")  # full case folding
