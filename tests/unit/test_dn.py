"""DN parsing and comparison (mlflow_ldap_auth.ldap.dn): pure unit tests, no servers."""

from __future__ import annotations

import pickle
import random
import sys
import unicodedata

import pytest
from ldap3.utils.dn import parse_dn as ldap3_parse_dn

from mlflow_ldap_auth.ldap import dn as dn_module
from mlflow_ldap_auth.ldap.dn import (
    InvalidDn,
    canonical_dn,
    dn_key,
    dn_key_or_raw,
    is_under,
    is_valid_dn,
    parse_dn,
    rdn_value,
    same_dn,
)

# -- table tests ----------------------------------------------------------------------

SAME = [
    ("cn=Smith\\, John,dc=x", "cn=Smith\\2C John,dc=x"),
    ("cn=Smith\\, John,dc=x", "CN=smith\\2c  john , DC=X"),
    ("CN=Editors-X, OU=Groups, DC=ACME, DC=test", "cn=editors-x,ou=groups,dc=acme,dc=test"),
    ("cn = a , dc = x", "cn=a,dc=x"),
    ("  cn=a,dc=x  ", "cn=a,dc=x"),
    ("cn=a+ou=b", "OU=B + CN=A"),
    ("cn=a+ou=b,dc=x", "ou=b+cn=a,dc=x"),
    ("cn=a\\ ,dc=x", "cn=a,dc=x"),
    ("cn=\\ a,dc=x", "cn=a,dc=x"),
    ("cn=a  b", "cn=a b"),
    ("cn=a\\20\\20b", "cn=A B"),
    ("cn=a \\ b", "cn=a b"),
    ("cn=a\tb", "cn=a b"),
    ("cn=a\u00a0b", "cn=a b"),
    ("cn=a\u3000\u2028b", "cn=a b"),
    ("cn=\\c3\\a9t\\C3\\A9", "cn=ÉTÉ"),
    ("cn=Straße", "cn=STRASSE"),
    ("cn=Ω", "cn=ω"),
    ("cn=a=b", "cn=a\\=b"),
    ("cn=a\\3db", "cn=a=b"),
    ("cn=a#b", "cn=a\\#b"),
    ("cn=\\5C", "cn=\\\\"),
    ("cn=\\41", "cn=a"),
    ("cn=#04024869,dc=x", "CN=#04024869,DC=X"),
    ("cn=#0A", "cn=#0a"),
    ("cn= #0a ,dc=x", "cn=#0A,dc=x"),
    ("2.5.4.3=a", "cn=a"),
    ("OID.2.5.4.3=a", "cn=a"),
    ("oid.2.5.4.11=b", "ou=b"),
    ("Oid.2.5.4.10=b", "o=b"),
    ("2.5.4.6=de", "c=de"),
    ("2.5.4.7=a", "l=a"),
    ("2.5.4.8=a", "st=a"),
    ("2.5.4.9=a", "street=a"),
    ("0.9.2342.19200300.100.1.25=x", "dc=x"),
    ("0.9.2342.19200300.100.1.1=x", "uid=x"),
    ("commonName=a,organizationalUnitName=b,domainComponent=x", "cn=a,ou=b,dc=x"),
    ("userid=a,organizationName=b,countryName=c", "uid=a,o=b,c=c"),
    ("x-Team=a", "X-TEAM=A"),
    ("1.3.6.1.4.1.99999.1=a", "OID.1.3.6.1.4.1.99999.1=A"),
    ("cn=", "cn= "),
    ("cn=,dc=x", "cn=\\ ,dc=x"),
]

DIFFERENT = [
    ("cn=a+ou=b,dc=x", "cn=a,ou=b,dc=x"),
    ("cn=a+ou=b,dc=x", "ou=b,cn=a,dc=x"),
    ("cn=Smith\\, John,dc=x", "cn=Smith,cn=John,dc=x"),
    ("cn=a,ou=b", "ou=b,cn=a"),
    ("cn=a,dc=x", "cn=a"),
    ("cn=a,dc=x", "cn=a,dc=x,dc=y"),
    ("cn=a", "sn=a"),
    ("cn=a", "cn=b"),
    ("cn=ab", "cn=a b"),
    ("cn=a,b=c", "cn=a\\,b=c"),
    ("x-a=1", "x-b=1"),
    ("cn=#04024869", "cn=\\#04024869"),
    ("cn=#61", "cn=a"),
    ("cn=#61", "cn=\\#61"),
    ("cn=\\\\#61", "cn=\\#61"),
    ("cn=\\\\", "cn=\\#"),
    ("cn=#0a", "cn=#0a00"),
    # No Unicode normalization beyond case folding: look-alikes stay different.
    ("cn=①", "cn=1"),
    ("cn=\uff21", "cn=a"),
    ("cn=e\u0301", "cn=é"),
    ("cn=a\u200bb", "cn=ab"),
    ("cn=a\u200bb", "cn=a b"),
    ("cn=a\x1fb", "cn=a b"),
    ("2.5.4.4=a", "cn=a"),
]

PARSED = [
    ("cn=Smith\\, John,dc=x", [[("cn", "Smith, John")], [("dc", "x")]]),
    ("CN = a + OU = b , DC = x", [[("CN", "a"), ("OU", "b")], [("DC", "x")]]),
    ("cn=a\\ ,dc=x", [[("cn", "a ")], [("dc", "x")]]),
    ("cn=\\ a\\ ", [[("cn", " a ")]]),
    ("cn=  a  b  ,dc=x", [[("cn", "a  b")], [("dc", "x")]]),
    ("cn=a \\ ", [[("cn", "a  ")]]),
    ("cn=#04024869,dc=x", [[("cn", "#04024869")], [("dc", "x")]]),
    ("cn=\\#04024869", [[("cn", "#04024869")]]),
    ("cn=\\c3\\a9t\\C3\\A9", [[("cn", "été")]]),
    ("cn=\\e2\\82\\ac \\f0\\9f\\98\\80", [[("cn", "€ 😀")]]),
    ("cn=a=b#c", [[("cn", "a=b#c")]]),
    ("cn==a", [[("cn", "=a")]]),
    ('cn=\\\\\\"\\+\\,\\;\\<\\>\\=\\#\\ ', [[("cn", '\\"+,;<>=# ')]]),
    ("cn=\\2C\\2b\\22", [[("cn", ',+"')]]),
    ("OID.2.5.4.3=a", [[("OID.2.5.4.3", "a")]]),
    ("cn=,dc=x", [[("cn", "")], [("dc", "x")]]),
    ("cn=a+cn=b", [[("cn", "a"), ("cn", "b")]]),
    ("cn=Straße Ω", [[("cn", "Straße Ω")]]),
    ("cn-=a", [[("cn-", "a")]]),
]

INVALID = [
    ("", 0),
    ("   ", 0),
    ("cn", 2),
    ("=a", 0),
    ("cn=a,", 5),
    (",cn=a", 0),
    ("cn=a,,dc=x", 5),
    ("cn=a+", 5),
    ("cn=a++ou=b", 5),
    ("cn=a,dc", 7),
    ("c n=a", 2),
    ("cn=a\\", 4),
    ("cn=a\\zz", 4),
    ("cn=a\\4", 4),
    ("cn=a\\4z", 4),
    ('cn="quoted"', 3),
    ('cn=a"b', 4),
    ("cn=a<b", 4),
    ("cn=a>b", 4),
    ("cn=a;dc=x", 4),
    ("1cn=a", 0),
    ("-cn=a", 0),
    ("é=a", 0),
    ("cn;lang-en=a", 0),
    ("2.5.04.3=a", 0),
    ("2.5.=a", 0),
    ("oid.cn=a", 0),
    ("cn=#xyz", 3),
    ("cn=#", 3),
    ("cn=#0", 3),
    ("cn=#04 x", 7),
    ("cn=#04\\20", 6),
    ("cn=a\0", 4),
    ("\0", 0),
    ("cn=\\00", 3),
    ("cn=a\\00b", 4),
    ("cn=\\ff", 3),
    ("cn=\\e9", 3),
    ("cn=a\\c3", 4),
    ("cn=\\c3\\,\\a9", 3),
    ("cn=\\ed\\a0\\80", 3),
    ("cn=a+cn=a", 5),
    ("cn=a+CN=A", 5),
    ("cn=a+2.5.4.3=A ", 5),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_dn(a, b):
    assert dn_key(a) == dn_key(b)
    assert same_dn(a, b)
    assert same_dn(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_dn(a, b):
    assert is_valid_dn(a)
    assert is_valid_dn(b)
    assert dn_key(a) != dn_key(b)
    assert not same_dn(a, b)


@pytest.mark.parametrize(("dn", "expected"), PARSED)
def test_parse_dn_unescapes(dn, expected):
    assert parse_dn(dn) == expected
    assert is_valid_dn(dn)


@pytest.mark.parametrize(("dn", "position"), INVALID)
def test_invalid_dn(dn, position):
    with pytest.raises(InvalidDn) as raised:
        parse_dn(dn)
    assert raised.value.position == position
    assert raised.value.dn == dn
    assert f"at position {position}" in str(raised.value)
    assert repr(dn) in str(raised.value)
    with pytest.raises(InvalidDn):
        dn_key(dn)
    assert not is_valid_dn(dn)
    assert not same_dn(dn, dn)
    assert not same_dn(dn, "cn=a")


def test_invalid_dn_says_what_is_wrong():
    def reason(dn):
        with pytest.raises(InvalidDn) as raised:
            parse_dn(dn)
        return raised.value.reason

    assert "quoted" in reason('cn="quoted"')
    assert "';'" in reason("cn=a;dc=x")
    assert "UTF-8" in reason("cn=\\ff")
    assert "NUL" in reason("cn=a\0")
    assert "hex" in reason("cn=#xyz")
    assert "'1cn'" in reason("1cn=a")
    assert "'='" in reason("cn")
    assert "empty" in reason("")


def test_invalid_dn_is_a_value_error_and_pickles():
    with pytest.raises(ValueError, match="position 4"):
        parse_dn("cn=a;dc=x")
    error = InvalidDn("cn=a;dc=x", "unescaped ';'", 4)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.dn, copy.reason, copy.position) == (error.dn, error.reason, error.position)
    assert str(copy) == str(error)
    assert len(str(InvalidDn("cn=" + "a" * 10_000, "too long", 3))) < 300


def test_is_valid_dn():
    assert is_valid_dn("cn=a,dc=x")
    assert is_valid_dn("CN=Editors-X, OU=Groups, DC=ACME, DC=test")
    assert is_valid_dn("cn=a\\ ,dc=x")
    assert is_valid_dn("cn=#04024869,dc=x")
    assert not is_valid_dn("")
    assert not is_valid_dn(" \t")
    assert not is_valid_dn("not a dn")


def test_is_under():
    people = dn_key("ou=People, DC=X")
    assert is_under(dn_key("uid=a,ou=people,dc=x"), people)
    assert is_under(dn_key("uid=a,ou=people,dc=x"), dn_key("dc=x"))
    assert is_under(dn_key("ou=people,dc=x"), dn_key("ou=people,dc=x"))
    assert not is_under(dn_key("cn=x+ou=people,dc=x"), dn_key("ou=people,dc=x"))
    assert not is_under(dn_key("dc=x"), people)
    assert not is_under(dn_key("uid=a,ou=people,dc=y"), people)
    # A string suffix match would take these; whole RDNs must match.
    assert not is_under(dn_key("uid=a,xou=people,dc=x"), people)
    assert not is_under(dn_key("uid=a\\,ou=people,dc=x"), dn_key("uid=a,ou=people,dc=x"))
    assert not is_under(dn_key("ou=people+cn=a,dc=x"), people)
    assert not is_under(dn_key("ou=people,dc=x,dc=y"), people)
    assert not is_under(dn_key_or_raw("not a dn,ou=people,dc=x"), people)


def test_dn_key_or_raw():
    raw = dn_key_or_raw("not a dn")
    assert raw == dn_key_or_raw("not a dn")
    assert raw == dn_key_or_raw(" NOT A DN ")
    assert raw != dn_key_or_raw("other")
    for valid in ["cn=not a dn", "not-a-dn=x", "x=not a dn", "cn=a", "dc=x", "cn="]:
        assert raw != dn_key(valid)
        assert dn_key_or_raw(valid) == dn_key(valid)
    assert all("\0" in attr for rdn in raw for attr, _ in rdn)
    assert dn_key_or_raw("") != dn_key_or_raw("cn=")
    assert not is_under(raw, dn_key("cn=a"))
    assert is_under(raw, raw)


def test_keys_are_cached_and_bounded():
    assert dn_key.cache_info().maxsize == 65536
    assert dn_key_or_raw.cache_info().maxsize == 65536
    assert dn_key("cn=cached,dc=x") is dn_key("cn=cached,dc=x")


def test_spaces_are_the_rfc_4518_ones():
    expected = {
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Zs", "Zl", "Zp")
    } | set("\t\n\v\f\r\x85")
    listed = {
        chr(code) for code in range(sys.maxunicode + 1) if dn_module._SPACE_RUN.match(chr(code))
    }
    assert listed == expected
    for space in expected:
        assert same_dn(f"cn=a{space}{space}b{space}", "cn=a b")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rdn_value_round_trips(seed):
    rng = random.Random(seed)
    alphabet = 'ab Z09,+"\\<>;=#éßΩ'
    for _ in range(300):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        if value == " ":  # ldap3's escape_rdn turns a lone space into "\\\\ "
            continue
        assert parse_dn(f"cn={rdn_value(value)},dc=x") == [[("cn", value)], [("dc", "x")]]


# -- property-style tests -------------------------------------------------------------

# Canonical type name -> spellings that must compare equal (case is varied on top).
TYPES = {
    "cn": ["cn", "commonName", "2.5.4.3", "OID.2.5.4.3", "oid.2.5.4.3"],
    "ou": ["ou", "organizationalUnitName", "2.5.4.11", "OID.2.5.4.11"],
    "dc": ["dc", "domainComponent", "0.9.2342.19200300.100.1.25", "oid.0.9.2342.19200300.100.1.25"],
    "uid": ["uid", "userid", "0.9.2342.19200300.100.1.1"],
    "o": ["o", "organizationName", "2.5.4.10"],
    "x-team": ["x-team"],
    "1.3.6.1.4.1.99999.1": ["1.3.6.1.4.1.99999.1", "OID.1.3.6.1.4.1.99999.1"],
}
LETTERS = "abcdxyzABCDXYZ0189"
NEEDS_ESCAPE = ',+"\\<>;'
VALUE_CHARS = LETTERS * 3 + "   " + NEEDS_ESCAPE + "=#" + "éßΩ"
MARK = "\x01"  # stands for a comma whose escaping a near miss removes

Structure = list[list[tuple[str, str]]]


def random_value(rng):
    value = [rng.choice(VALUE_CHARS) for _ in range(rng.randint(1, 8))]
    if not any(char.isascii() and char.isalnum() for char in value):
        value.insert(rng.randint(0, len(value)), rng.choice(LETTERS))
    return "".join(value)


def random_rdn(rng):
    types = rng.sample(sorted(TYPES), k=rng.choice([1, 1, 1, 2, 3]))
    return [(attr, random_value(rng)) for attr in types]


def random_dn(rng) -> Structure:
    return [random_rdn(rng) for _ in range(rng.randint(1, 5))]


def fold(value):
    return " ".join(value.casefold().split())


def expected_key(structure: Structure):
    return tuple(frozenset((attr, fold(value)) for attr, value in rdn) for rdn in structure)


def canonical(structure: Structure) -> str:
    def escape(value):
        out = []
        for k, char in enumerate(value):
            edge_space = char == " " and k in (0, len(value) - 1)
            if char in NEEDS_ESCAPE + "=" or (char == "#" and k == 0) or edge_space:
                out.append("\\" + char)
            else:
                out.append(char)
        return "".join(out)

    return ",".join("+".join(f"{attr}={escape(value)}" for attr, value in rdn) for rdn in structure)


def hex_escape(rng, char):
    form = rng.choice(["\\{:02x}", "\\{:02X}"])
    return "".join(form.format(byte) for byte in char.encode())


def random_case(rng, text):
    return "".join(rng.choice([char.lower(), char.upper(), char]) for char in text)


def spell_value(rng, value):
    value = random_case(rng, value)  # "ß".upper() is "SS": equal under case folding
    out = []
    for k, char in enumerate(value):
        only_spaces_before = not value[:k].strip(" ")
        if char == MARK:
            out.append(MARK)
        elif char in NEEDS_ESCAPE or (char == "#" and only_spaces_before):
            out.append(rng.choice(["\\" + char, hex_escape(rng, char)]))
        elif char in "=#":
            out.append(rng.choice([char, "\\" + char, hex_escape(rng, char)]))
        elif char == " ":
            out.append(rng.choice([" ", "  ", "\\ ", "\\20", " \\20", "\\ \\ "]))
        elif not char.isascii():
            out.append(rng.choice([char, hex_escape(rng, char)]))
        else:
            out.append(char if rng.random() < 0.9 else hex_escape(rng, char))
    return "".join(out)


def spell(rng, structure: Structure) -> str:
    def space():
        return " " * rng.choice([0, 0, 1, 2])

    rdns = []
    for rdn in structure:
        avas = [
            f"{random_case(rng, rng.choice(TYPES[attr]))}{space()}={space()}"
            f"{spell_value(rng, value)}"
            for attr, value in rdn
        ]
        rng.shuffle(avas)
        rdns.append(f"{space()}+{space()}".join(avas))
    return space() + f"{space()},{space()}".join(rdns) + space()


def near_misses(rng, structure: Structure) -> list[tuple[str, Structure]]:
    """Structures close to ``structure`` that are different DNs, each with a reason."""
    misses = []
    where = rng.randrange(len(structure))
    rdn = structure[where]
    if len(rdn) > 1:
        cut = rng.randint(1, len(rdn) - 1)
        misses.append(
            ("split", [*structure[:where], rdn[:cut], rdn[cut:], *structure[where + 1 :]])
        )
    if len(structure) > 1:
        i = rng.randrange(len(structure) - 1)
        merged = structure[i] + structure[i + 1]
        if len({attr for attr, _ in merged}) == len(merged):
            misses.append(("merge", [*structure[:i], merged, *structure[i + 2 :]]))
        if expected_key([structure[i]]) != expected_key([structure[i + 1]]):
            swapped = list(structure)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            misses.append(("swap", swapped))
        dropped = list(structure)
        del dropped[rng.randrange(len(structure))]
        misses.append(("drop", dropped))
    added = list(structure)
    added.insert(rng.randint(0, len(structure)), random_rdn(rng))
    misses.append(("add", added))

    j = rng.randrange(len(rdn))
    attr, value = rdn[j]
    positions = [k for k, char in enumerate(value) if char.isascii() and char.isalnum()]
    k = rng.choice(positions)
    other = rng.choice("pqrstuvw2345")  # no letter or digit of LETTERS, in any case
    changed = [*rdn[:j], (attr, value[:k] + other + value[k + 1 :]), *rdn[j + 1 :]]
    misses.append(("change a character", [*structure[:where], changed, *structure[where + 1 :]]))

    taken = {name for name, _ in rdn}
    new_attr = rng.choice([name for name in sorted(TYPES) if name not in taken])
    moved = [*rdn[:j], (new_attr, value), *rdn[j + 1 :]]
    misses.append(("other type", [*structure[:where], moved, *structure[where + 1 :]]))
    return misses


@pytest.mark.parametrize("seed", [7, 1729, 20240917])
def test_random_spellings_are_equal_and_near_misses_are_not(seed):
    rng = random.Random(seed)
    for _ in range(300):
        structure = random_dn(rng)
        text = canonical(structure)
        assert parse_dn(text) == structure, text
        key = dn_key(text)
        assert key == dn_key(canonical(structure))
        assert [sorted(attr for attr, _ in rdn) for rdn in key] == [
            sorted(attr for attr, _ in rdn) for rdn in structure
        ]

        for _ in range(6):
            spelling = spell(rng, structure)
            assert dn_key(spelling) == key, (text, spelling)
            assert same_dn(spelling, text)

        for reason, miss in near_misses(rng, structure):
            assert expected_key(miss) != expected_key(structure), reason
            for miss_text in (canonical(miss), spell(rng, miss)):
                assert is_valid_dn(miss_text), (reason, miss_text)
                assert dn_key(miss_text) != key, (reason, text, miss_text)
                assert not same_dn(miss_text, text), (reason, text, miss_text)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_unescaping_a_comma_is_never_the_same_dn(seed):
    rng = random.Random(seed)
    for _ in range(300):
        structure = random_dn(rng)
        where = rng.randrange(len(structure))
        j = rng.randrange(len(structure[where]))
        attr, value = structure[where][j]
        structure[where][j] = (attr, value + MARK)
        tail = f"{rng.choice(TYPES[rng.choice(sorted(TYPES))])}=" + "".join(
            rng.choice(LETTERS) for _ in range(rng.randint(1, 4))
        )

        spelling = spell(rng, structure)
        escaped = spelling.replace(MARK, rng.choice(["\\,", "\\2c", "\\2C"]) + tail)
        unescaped = spelling.replace(MARK, "," + tail)
        expected = [
            [(name, text.replace(MARK, "," + tail)) for name, text in rdn] for rdn in structure
        ]
        assert dn_key(escaped) == dn_key(canonical(expected)), escaped
        assert is_valid_dn(unescaped), unescaped
        assert len(dn_key(unescaped)) == len(structure) + 1
        assert dn_key(unescaped) != dn_key(escaped)
        assert not same_dn(unescaped, escaped)


@pytest.mark.parametrize(
    "typed",
    [
        "cn = mlflow-users , ou=groups,dc=example,dc=org",
        "CN=Smith\\2C John , OU=People, DC=X",
        "cn=\\ padded\\ ,dc=x",
        "cn=\\#hash+ou=b,dc=x",
        "OID.2.5.4.3=a,0.9.2342.19200300.100.1.25=x",
        "cn=a=b\\;c\\<d\\>,dc=x",
        "cn=é ß Ω,dc=x",
        "cn=back\\\\slash,dc=x",
    ],
)
def test_canonical_dn_is_the_same_dn_in_a_spelling_ldap3_accepts(typed):
    canonical = canonical_dn(typed)
    assert dn_key(canonical) == dn_key(typed)
    ldap3_parse_dn(canonical)  # ldap3 refuses spaces around separators and OID types
    assert canonical_dn(canonical) == canonical
