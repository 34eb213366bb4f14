"""Distinguished names: comparison and escaping helpers.

``normalize_dn`` gives the form used for every comparison (RFC 4514 DNs are
case-insensitive for the attribute types and, for the usual string syntaxes, values;
spaces around ``=`` and ``,`` are not significant).
"""

from __future__ import annotations

import functools

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn


@functools.lru_cache(maxsize=65536)
def normalize_dn(dn: str) -> str:
    """Lower-cased, space-trimmed DN; the input unchanged (lower-cased) if it does not parse."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except (LDAPInvalidDnError, ValueError, IndexError):
        return dn.strip().lower()
    return ",".join(f"{attr.strip().lower()}={value.strip().lower()}" for attr, value, _ in parts)


def is_valid_dn(dn: str) -> bool:
    try:
        parse_dn(dn)
    except (LDAPInvalidDnError, ValueError, IndexError):
        return False
    return bool(dn.strip())


def filter_value(value: str) -> str:
    """Escape a value for an LDAP search filter (RFC 4515 section 3: ``* ( ) \\ NUL``)."""
    return escape_filter_chars(value)


def rdn_value(value: str) -> str:
    """Escape a value for an RDN (RFC 4514 section 2.4).

    Escapes ``, + " \\ < > ; =`` and a leading ``#`` or space.
    """
    return escape_rdn(value)
