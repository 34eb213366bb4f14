"""DN comparison cases ``test_dn.py`` does not have yet, and the filter/DN escaping helpers."""

from __future__ import annotations

import re

import pytest
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn as ldap3_parse_dn
from ldap3.utils.dn import safe_dn

from mlflow_ldap_auth.ldap.dn import (
    InvalidDn,
    canonical_dn,
    dn_key,
    filter_value,
    is_under,
    is_valid_dn,
    parse_dn,
    same_dn,
)

SAME = [
    # Multi-valued RDNs: the order of the pairs inside one RDN does not matter ...
    ("cn=a+ou=b+o=c,dc=x", "o=c+cn=a+ou=b,dc=x"),
    ("cn=a+ou=b+o=c,dc=x", "ou=b + o=c + cn=a , dc=x"),
    ("uid=u,cn=a+ou=b,dc=x", "uid=u,ou=b+cn=a,dc=x"),  # ... wherever the RDN is
    ("cn=a+cn=b,dc=x", "cn=b+cn=a,dc=x"),
    # One value, several escapings.
    ("cn=a\\+b,dc=x", "cn=a\\2bb,dc=x"),
    ("cn=a\\+b,dc=x", "cn=a\\2Bb,dc=x"),
    ("cn=a\\;b", "cn=a\\3bb"),
    ("cn=a\\<b\\>", "cn=a\\3cb\\3e"),
    ('cn=a\\"b', "cn=a\\22b"),
    ("cn=a\\=b", "cn=a\\3Db"),
    ("cn=\\#a", "cn=\\23a"),
    ("cn=caf\\c3\\a9", "cn=café"),
    ("cn=caf\\C3\\A9", "cn=CAFÉ"),
    ("cn=\\e2\\82\\ac", "cn=€"),
    ("cn=\\61\\62\\63", "cn=abc"),
    ("cn=\\41\\42\\43", "cn=abc"),
    ("cn=Smith\\2c John", "cn=Smith\\, John"),
    # OIDs and names of attribute types.
    ("2.5.4.3=x", "CN=x"),
    ("OID.2.5.4.3=X", "cn=x"),
    ("2.5.4.3=x,2.5.4.11=y,0.9.2342.19200300.100.1.25=z", "CN=X,OU=Y,DC=Z"),
    ("2.5.4.3=a+2.5.4.11=b", "ou=b+cn=a"),
    ("COMMONNAME=x", "cn=x"),
    # Trailing (and leading) spaces are insignificant, escaped or not.
    ("cn=a ,dc=x", "cn=a,dc=x"),
    ("cn=a\\20,dc=x", "cn=a,dc=x"),
    ("cn=a \\20 ,dc=x", "cn=a,dc=x"),
    ("cn=\\20a,dc=x", "cn=a,dc=x"),
    ("cn=a,dc=x ", "cn=a,dc=x"),
    ("cn=a b\\20\\20,dc=x", "cn=a b,dc=x"),
    # Attribute types and string values are both compared without case.
    ("CN=Alice,DC=Example", "cn=alice,dc=example"),
    ("cN=aLiCe", "Cn=AlIcE"),
    ("x-Custom-Type=v", "X-CUSTOM-TYPE=V"),
]

DIFFERENT = [
    # A "+" that is escaped is part of the value, not a second pair of the RDN.
    ("cn=a+b=c", "cn=a\\+b=c"),
    ("cn=a+b=c,dc=x", "cn=a\\2bb=c,dc=x"),
    ("cn=a+ou=b", "cn=a\\+ou=b"),
    # An escaped "," is part of the value, not an RDN separator: the string rewrite trap.
    ("cn=a,ou=b", "cn=a\\,ou=b"),
    ("cn=a,ou=b", "cn=a\\2cou=b"),
    ("cn=a,ou=b,dc=x", "cn=a\\,ou=b,dc=x"),
    ("cn=a\\,ou=b,dc=x", "cn=a\\+ou=b,dc=x"),
    # Hexstrings are BER encodings, never equal to a string value.
    ("cn=#616263", "cn=abc"),
    ("cn=#4142", "cn=AB"),
    ("cn=#4142", "cn=#4143"),
    # A type that is not one of the known names stays its OID.
    ("1.2.3.4=x", "cn=x"),
    ("2.5.4.3=x", "2.5.4.3.1=x"),
    # Case-insensitive, but no other folding: an inner space counts.
    ("cn=a b", "cn=ab"),
    ("cn=a\\20b", "cn=ab"),
    # The same pairs in other RDNs.
    ("cn=a+ou=b,dc=x", "cn=a,ou=b+dc=x"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same(a, b):
    assert same_dn(a, b)
    assert same_dn(b, a)
    assert dn_key(a) == dn_key(b)
    assert canonical_dn(a) == canonical_dn(canonical_dn(a))
    assert same_dn(canonical_dn(a), b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different(a, b):
    assert is_valid_dn(a) and is_valid_dn(b)
    assert not same_dn(a, b)
    assert not same_dn(b, a)
    assert dn_key(a) != dn_key(b)
    try:
        respelled = canonical_dn(a), canonical_dn(b)
    except InvalidDn as refused:  # a DN ldap3 cannot send is refused, never merged
        assert "ldap3 cannot send" in refused.reason
    else:
        assert not same_dn(*respelled)


def test_an_unescaped_plus_must_start_a_pair():
    assert not is_valid_dn("cn=a+b")
    assert not same_dn("cn=a+b", "cn=a\\+b")
    assert parse_dn("cn=a\\+b") == [[("cn", "a+b")]]
    assert parse_dn("cn=a+b=c") == [[("cn", "a"), ("b", "c")]]


def test_the_rewrite_trap_has_another_structure():
    assert parse_dn("cn=a\\,ou=b,dc=x") == [[("cn", "a,ou=b")], [("dc", "x")]]
    assert len(dn_key("cn=a,ou=b,dc=x")) == 3
    assert len(dn_key("cn=a\\,ou=b,dc=x")) == 2
    base = dn_key("ou=b,dc=x")
    assert is_under(dn_key("cn=a,ou=b,dc=x"), base)
    assert not is_under(dn_key("cn=a\\,ou=b,dc=x"), base)


def test_same_dn_is_false_for_anything_that_does_not_parse():
    for bad in ["", "cn=a+b", "cn=a;dc=x", "cn=a,", "not a dn", "cn=\\zz"]:
        assert not same_dn(bad, bad)
        assert not same_dn(bad, "cn=a")
        assert not same_dn("cn=a", bad)


def test_is_under_with_multi_valued_rdns_in_another_order():
    base = dn_key("o=b+ou=a,dc=x")
    assert is_under(dn_key("cn=x,ou=a+o=b,dc=x"), base)
    assert is_under(dn_key("OU=A+O=B,DC=X"), base)
    assert not is_under(dn_key("cn=x,ou=a,dc=x"), base)  # half of the RDN is not the RDN
    assert not is_under(dn_key("cn=x,ou=a+o=b+c=de,dc=x"), base)


def test_is_under_with_oids_and_escapes():
    base = dn_key("OU=Groups,DC=Example,DC=Org")
    assert is_under(dn_key("cn=t,2.5.4.11=groups,0.9.2342.19200300.100.1.25=example,dc=org"), base)
    assert is_under(dn_key("cn=t,ou=\\47roups,dc=example,dc=org"), base)
    assert not is_under(dn_key("cn=t\\,ou=groups,dc=example\\,dc=org"), base)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("CN=Team, OU=Groups", "CN=Team,OU=Groups"),
        ("cn = Team , ou = Groups", "cn=Team,ou=Groups"),  # value case kept as written
        ("2.5.4.3=Team,0.9.2342.19200300.100.1.25=X", "cn=Team,dc=X"),
        ("OID.2.5.4.11=g", "ou=g"),
        ("cn=Smith\\2C John", "cn=Smith\\, John"),
        ("cn=a\\2bb", "cn=a\\+b"),
        ("cn=a=b", "cn=a\\=b"),
        ("cn=\\#a", "cn=\\23a"),
        ("cn=a\\ ", "cn=a\\20"),
        ("cn=\\ a", "cn=\\20a"),
        ("cn=\\c3\\a9t\\c3\\a9", "cn=été"),
        ("cn=a+ou=b", "cn=a+ou=b"),  # pair order kept
    ],
)
def test_canonical_dn_spelling(typed, expected):
    assert canonical_dn(typed) == expected
    ldap3_parse_dn(expected)
    assert same_dn(safe_dn(expected), typed)  # what ldap3 sends as a search base


@pytest.mark.parametrize("typed", ["cn=#0a0b,dc=x", "1.3.6.1.4.1.99999.1=x,dc=x"])
def test_canonical_dn_refuses_what_ldap3_would_send_as_another_dn(typed):
    # ldap3's safe_dn re-reads a hexstring as the string "#...", and refuses numeric
    # types it has no name for: either would search for, or fail on, another DN.
    with pytest.raises(InvalidDn, match="ldap3 cannot send"):
        canonical_dn(typed)
    with pytest.raises((AssertionError, LDAPInvalidDnError)):
        assert same_dn(safe_dn(typed), typed)


@pytest.mark.parametrize("bad", ["", "cn=a;dc=x", "cn=a+b", "cn=\\zz"])
def test_canonical_dn_refuses_what_is_not_a_dn(bad):
    with pytest.raises(InvalidDn):
        canonical_dn(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice", "alice"),
        ("a*b", "a\\2ab"),
        ("(x)", "\\28x\\29"),
        ("back\\slash", "back\\5cslash"),
        ("nul\0", "nul\\00"),
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        ("*)(|(objectClass=*", "\\2a\\29\\28|\\28objectClass=\\2a"),
        ("été", "été"),
        ("a=b&c|d!e", "a=b&c|d!e"),  # only * ( ) \\ NUL are special in a value
    ],
)
def test_filter_value(value, expected):
    escaped = filter_value(value)
    assert escaped == expected
    assert not set(escaped) & set("*()\0")
    assert re.sub(r"\\([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), escaped) == value
