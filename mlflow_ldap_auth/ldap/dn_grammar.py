"""The RFC 4514 grammar of distinguished names, as ``dn`` parses them.

Parsing (``parse_dn``):

* ``distinguishedName`` is RDNs separated by ``,``; an RDN is ``type=value`` pairs
  joined by ``+``. ``;`` as a separator (RFC 2253 legacy) and quoted values (RFC 1779)
  are refused. The empty DN is refused too: a configured DN is never the root.
* An attribute type is a ``descr`` (``ALPHA *(ALPHA / DIGIT / "-")``) or a
  ``numericoid`` (RFC 4512, no leading zeros), the latter optionally written with the
  RFC 1779 ``OID.`` prefix (any case).
* Lenient spacing, as AD and OpenLDAP tools write DNs: spaces around ``,``, ``+`` and
  ``=`` are ignored, so unescaped leading and trailing spaces are not part of a value;
  an escaped space (``\\ `` or ``\\20``) is.
* A value is a string or a ``#`` hexstring (the BER encoding, kept as ``#`` + hex).
  In a string, ``\\`` is followed by one of ``\\ " + , ; < > = #`` and space, or by two
  hex digits; consecutive hex-escaped bytes are decoded together as UTF-8. Unescaped
  ``" ; < >`` are refused; ``=`` and a non-leading ``#`` need no escape. A NUL
  character (literal or escaped) is refused, and so is a type=value pair repeated in one RDN.

Each attributeTypeAndValue also gets its comparison key here (``dn`` explains keys).
"""

from __future__ import annotations

import re
from typing import NamedTuple, TypeAlias

RDN: TypeAlias = frozenset[tuple[str, str]]
"""One RDN of a ``DnKey``: its (attribute type, normalized value) pairs."""

DnKey: TypeAlias = tuple[RDN, ...]
"""A DN for comparison: its RDNs in order, most specific first."""


class InvalidDn(ValueError):
    """A string that is not an RFC 4514 DN: ``reason`` says what, ``position`` where."""

    def __init__(self, dn: str, reason: str, position: int) -> None:
        super().__init__(dn, reason, position)
        self.dn = dn
        self.reason = reason
        self.position = position

    def __str__(self) -> str:
        shown = self.dn if len(self.dn) <= 200 else self.dn[:200] + "..."
        return f"invalid DN {shown!r}: {self.reason} at position {self.position}"


class _Ava(NamedTuple):
    """One attributeTypeAndValue: as written, unescaped, and its comparison key."""

    type: str
    value: str
    key: tuple[str, str]


_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPABLE = frozenset('\\"+,;<>=# ')
_REFUSED = frozenset('";<>')
_DESCR = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_NUMERICOID = re.compile(r"(?:[oO][iI][dD]\.)?(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+")
# RFC 4518 section 2.2 maps these to SPACE: TAB, LF, VT, FF, CR, NEL and every code point
# of category Zs, Zl or Zp (tests/test_dn.py checks the list against unicodedata).
_SPACE_RUN = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# A key for a string that does not parse; no valid DN has a type containing NUL.
_RAW_TYPE = "\0raw"

_TYPE_NAMES = {
    "2.5.4.3": "cn",
    "commonname": "cn",
    "2.5.4.11": "ou",
    "organizationalunitname": "ou",
    "2.5.4.10": "o",
    "organizationname": "o",
    "2.5.4.6": "c",
    "countryname": "c",
    "2.5.4.7": "l",
    "localityname": "l",
    "2.5.4.8": "st",
    "stateorprovincename": "st",
    "2.5.4.9": "street",
    "streetaddress": "street",
    "0.9.2342.19200300.100.1.25": "dc",
    "domaincomponent": "dc",
    "0.9.2342.19200300.100.1.1": "uid",
    "userid": "uid",
}


def _type_key(attr: str) -> str:
    folded = attr.casefold()
    if folded.startswith("oid."):
        folded = folded[4:]
    return _TYPE_NAMES.get(folded, folded)


def _value_key(value: str) -> str:
    folded = _SPACE_RUN.sub(" ", value.casefold()).strip(" ")
    # Hexstring keys start with "#": a string value starting with "#" (or the "\" used
    # here to mark it) gets a "\" in front, so the two kinds never meet.
    if folded[:1] in ("#", "\\"):
        return "\\" + folded
    return folded


def _skip_spaces(dn: str, i: int) -> int:
    while i < len(dn) and dn[i] == " ":
        i += 1
    return i


def _parse_hexstring(dn: str, i: int) -> tuple[str, str, int]:
    """``#`` 1*hexpair at ``dn[i]``: (as written, key, index after trailing spaces)."""
    start = i
    i += 1
    while i + 1 < len(dn) and dn[i] in _HEX and dn[i + 1] in _HEX:
        i += 2
    if i == start + 1:
        raise InvalidDn(dn, "'#' starts a hexstring, which needs pairs of hex digits", start)
    end = _skip_spaces(dn, i)
    if end < len(dn) and dn[end] not in ",+":
        raise InvalidDn(dn, "a hexstring value is '#' and pairs of hex digits only", end)
    return dn[start:i], "#" + dn[start + 1 : i].lower(), end


def _parse_hex_escapes(dn: str, i: int) -> tuple[str, int]:
    """A run of ``\\XX`` at ``dn[i]``, decoded together as UTF-8."""
    start = i
    raw = bytearray()
    while i + 2 < len(dn) and dn[i] == "\\" and dn[i + 1] in _HEX and dn[i + 2] in _HEX:
        raw.append(int(dn[i + 1 : i + 3], 16))
        i += 3
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDn(dn, "hex escapes are not valid UTF-8", start + 3 * exc.start) from None
    if 0 in raw:
        raise InvalidDn(dn, "escaped NUL character", start + 3 * raw.index(0))
    return text, i


def _parse_string(dn: str, i: int) -> tuple[str, int]:
    """A string value at ``dn[i]`` up to an unescaped ``,``, ``+`` or the end.

    Unescaped trailing spaces are dropped (leading ones were skipped by the caller).
    """
    chars: list[str] = []
    kept = 0  # length of ``chars`` up to its last character that is not an unescaped space
    while i < len(dn):
        char = dn[i]
        if char in ",+":
            break
        if char == "\\":
            if i + 1 == len(dn):
                raise InvalidDn(dn, "'\\' at the end of the DN", i)
            if i + 2 < len(dn) and dn[i + 1] in _HEX and dn[i + 2] in _HEX:
                text, i = _parse_hex_escapes(dn, i)
                chars.extend(text)
            elif dn[i + 1] in _ESCAPABLE:
                chars.append(dn[i + 1])
                i += 2
            else:
                raise InvalidDn(
                    dn, "'\\' must be followed by a special character or two hex digits", i
                )
            kept = len(chars)
            continue
        if char in _REFUSED:
            if char == '"' and not chars:
                raise InvalidDn(dn, "quoted values are not supported", i)
            hint = " (RDNs are separated by ',')" if char == ";" else ""
            raise InvalidDn(dn, f"unescaped {char!r} in a value{hint}", i)
        chars.append(char)
        if char != " ":
            kept = len(chars)
        i += 1
    return "".join(chars[:kept]), i


def _parse_ava(dn: str, i: int) -> tuple[_Ava, int]:
    """``type=value`` at ``dn[i]``; returns the index of the ``,``/``+`` after it, or the end."""
    i = _skip_spaces(dn, i)
    start = i
    while i < len(dn) and dn[i] not in "=,+ ":
        i += 1
    attr = dn[start:i]
    if not attr:
        raise InvalidDn(dn, "expected an attribute type", start)
    if not (_DESCR.fullmatch(attr) or _NUMERICOID.fullmatch(attr)):
        raise InvalidDn(dn, f"invalid attribute type {attr!r}", start)
    i = _skip_spaces(dn, i)
    if i == len(dn) or dn[i] != "=":
        raise InvalidDn(dn, f"expected '=' after attribute type {attr!r}", i)
    i = _skip_spaces(dn, i + 1)
    if i < len(dn) and dn[i] == "#":
        value, value_key, i = _parse_hexstring(dn, i)
    else:
        value, i = _parse_string(dn, i)
        value_key = _value_key(value)
    return _Ava(attr, value, (_type_key(attr), value_key)), i


def _parse(dn: str) -> list[list[_Ava]]:
    nul = dn.find("\0")
    if nul >= 0:
        raise InvalidDn(dn, "NUL character", nul)
    if not dn.strip(" "):
        raise InvalidDn(dn, "empty DN", 0)
    rdns: list[list[_Ava]] = []
    i = 0
    while True:
        rdn: list[_Ava] = []
        while True:
            start = _skip_spaces(dn, i)
            ava, i = _parse_ava(dn, i)
            if any(other.key == ava.key for other in rdn):
                raise InvalidDn(dn, "the same type and value twice in one RDN", start)
            rdn.append(ava)
            if i == len(dn) or dn[i] != "+":
                break
            i += 1
        rdns.append(rdn)
        if i == len(dn):
            return rdns
        i += 1  # a value ends only at "," "+" or the end of the DN


def _key(dn: str) -> DnKey:
    return tuple(frozenset(ava.key for ava in rdn) for rdn in _parse(dn))
