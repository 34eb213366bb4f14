"""Distinguished names: parsing, comparison keys and escaping helpers.

A DN is parsed structurally by the grammar of RFC 4514 section 3 and compared by its
structure, never as a flattened string: ``cn=a+ou=b,dc=x`` (one multi-valued RDN) and
``cn=a,ou=b,dc=x`` (two RDNs) are different DNs, and a look-alike group must not pass
for an admin group.

Parsing (``parse_dn``) follows RFC 4514 section 3; the grammar and its leniencies are in
``dn_grammar``.

Comparison (``dn_key``): RDNs in order, each a set of (type, value) pairs, so the
order of the pairs inside one RDN does not matter but the order of the RDNs does.
Types are case-folded, the ``OID.`` prefix dropped, and the usual RFC 4519 names and
OIDs mapped to one short name (``2.5.4.3`` and ``commonName`` are ``cn``). String values
get what caseIgnoreMatch does with them (RFC 4518 sections 2.4, case folding, and
2.6.1, insignificant space handling): case-folded, each run of spaces (RFC 4518
section 2.2: the separator characters and the ASCII white-space controls) collapsed to
one, leading and trailing ones dropped. No Unicode normalization (NFKC) beyond that,
so a name that only looks like another stays different. A hexstring never equals a string value.
"""

from __future__ import annotations

import functools

from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from mlflow_ldap_auth.ldap.dn_grammar import (
    _RAW_TYPE,
    _SPACE_RUN,  # noqa: F401 - re-exported: tests check its character list
    RDN,
    DnKey,
    InvalidDn,
    _key,
    _parse,
    _type_key,
)

__all__ = [
    "RDN",
    "DnKey",
    "InvalidDn",
    "canonical_dn",
    "dn_key",
    "dn_key_or_raw",
    "filter_value",
    "is_under",
    "is_valid_dn",
    "parse_dn",
    "rdn_value",
    "same_dn",
]


def parse_dn(dn: str) -> list[list[tuple[str, str]]]:
    """RFC 4514 parse: the RDNs, each a list of (type as written, unescaped value).

    A hexstring value is returned as written (``#`` and its hex digits), which a string
    value starting with an escaped ``#`` cannot be told apart from; ``dn_key`` can.
    Raises ``InvalidDn``.
    """
    return [[(ava.type, ava.value) for ava in rdn] for rdn in _parse(dn)]


@functools.lru_cache(maxsize=65536)
def dn_key(dn: str) -> DnKey:
    """The comparison key of a DN (see the module docstring). Raises ``InvalidDn``."""
    return _key(dn)


@functools.lru_cache(maxsize=65536)
def dn_key_or_raw(dn: str) -> DnKey:
    """``dn_key``, or for a string that does not parse a key no valid DN ever has.

    For DNs the server returns: one odd value must not fail a whole lookup, and must
    not match a configured DN either.
    """
    try:
        return _key(dn)
    except InvalidDn:
        return (frozenset({(_RAW_TYPE, dn.strip().casefold())}),)


def same_dn(a: str, b: str) -> bool:
    """Whether two strings are the same DN; False if either does not parse."""
    try:
        return dn_key(a) == dn_key(b)
    except InvalidDn:
        return False


def is_under(key: DnKey, base: DnKey) -> bool:
    """Whether ``key`` is ``base`` or below it (its last RDNs are, whole, those of ``base``)."""
    depth = len(base)
    return len(key) >= depth and key[len(key) - depth :] == base


def _render_value(value: str) -> str:
    """RFC 4514 section 2.4 escaping; leading/trailing space and leading ``#`` as hex pairs,
    the spelling every LDAP library (ldap3 included) reads back."""
    out = []
    for index, char in enumerate(value):
        if char in ',+"\\<>;=':
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        elif (char == " " and index in (0, len(value) - 1)) or (char == "#" and index == 0):
            out.append(f"\\{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def canonical_dn(dn: str) -> str:
    """``dn`` respelled for the wire: no spaces around separators, values escaped once.

    Directory servers and ldap3 accept only a strict DN as a search base; an operator's
    ``CN=Team, OU=Groups`` or ``cn = team`` is this same DN. Types and the case of values
    are kept as written, except that a well-known numeric OID is written as its name
    (``2.5.4.3`` -> ``cn``). Raises ``InvalidDn``, also for the two things ldap3 cannot
    send faithfully: a ``#`` hexstring value and a numeric type without a known name.
    """
    rdns = []
    for rdn in _parse(dn):
        parts = []
        for ava in rdn:
            kind = ava.type
            if ava.key[1].startswith("#"):
                # ldap3's safe_dn, run on every DN it sends, re-reads "#..." as a string
                # value: another DN. Refused rather than silently searched for.
                raise InvalidDn(dn, "ldap3 cannot send a '#' hexstring value", dn.find("#"))
            if kind[:1].isdigit() or kind[:4].lower() == "oid.":
                kind = _type_key(kind)  # a known OID by its name: ldap3 takes no OID types
                if kind[:1].isdigit():
                    raise InvalidDn(
                        dn, f"ldap3 cannot send the attribute type {ava.type}: use its name", 0
                    )
            parts.append(f"{kind}={_render_value(ava.value)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


def is_valid_dn(dn: str) -> bool:
    try:
        _parse(dn)
    except InvalidDn:
        return False
    return True


def filter_value(value: str) -> str:
    """Escape a value for an LDAP search filter (RFC 4515 section 3: ``* ( ) \\ NUL``)."""
    return escape_filter_chars(value)


def rdn_value(value: str) -> str:
    """Escape a value for an RDN (RFC 4514 section 2.4).

    Escapes ``, + " \\ < > ; =`` and a leading ``#`` or space.
    """
    return escape_rdn(value)
