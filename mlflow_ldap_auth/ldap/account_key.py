"""The spraying guard's key of an account: one key for every spelling the directory
treats as the same entry.

The directory counts failed binds per *entry*, and it finds the entry by matching the
bind DN as its matching rules say (RFC 4518 string preparation for caseIgnoreMatch:
Unicode compatibility normalization (NFKC), case folding, every space-like character
as a space, leading, trailing and repeated spaces insignificant). slapd binds ``uid=u28``
typed in fullwidth letters, or with a leading space and a trailing no-break space, or
after an ideographic space, all as ``uid=u28``. So the key is the DN's structure
(``dn.dn_key``: RDNs in order, each a set of type=value pairs) with each value prepared
that way. Where two spellings might or might not be one entry, the key rather joins
them: sharing a budget costs a little, a second budget costs a locked account.

A bind name that is not a DN (Active Directory's ``user@realm`` or ``DOMAIN\\user`` of a
``user_dn_template``) is prepared as one string.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ldap3.utils.dn import escape_rdn

from mlflow_ldap_auth.ldap.dn import InvalidDn, dn_key

#: Longest key stored as is (the guard's column holds 512); longer ones are hashed.
MAX_KEY_LENGTH = 255
#: Prefix of the key of a login name the directory does not know (no entry, no DN).
UNKNOWN_NAME = "name:"

# RFC 4518 section 2.2: mapped to nothing (soft hyphens, joiners, variation selectors,
# the object replacement character, controls other than the white-space ones)...
_TO_NOTHING = re.compile(
    "[\u00ad\u1806\u034f\u180b-\u180d\ufe00-\ufe0f\ufffc\u200b\u200c\u200d\u2060\ufeff"
    "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]"
)
# ...and these to a space (TAB, LF, VT, FF, CR, NEL and the Zs, Zl, Zp characters).
_SPACE_RUN = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def prepared(value: str) -> str:
    """``value`` as caseIgnoreMatch compares it (RFC 4518: map, fold, NFKC, spaces)."""
    value = _TO_NOTHING.sub("", value)
    value = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return _SPACE_RUN.sub(" ", value).strip(" ")


def account_key(bind_name: str) -> str:
    """The guard's key for the entry a bind as ``bind_name`` (a DN or AD name) reaches."""
    try:
        key = dn_key(bind_name)
    except InvalidDn:
        text = prepared(bind_name)
    else:
        text = ",".join(
            "+".join(
                sorted(
                    f"{kind}={value if value.startswith('#') else escape_rdn(prepared(value))}"
                    for kind, value in rdn
                )
            )
            for rdn in key
        )
    return _bounded(text)


def unknown_name_key(login: str) -> str:
    """The guard's key for a login name no entry matched (search-then-bind)."""
    return _bounded(UNKNOWN_NAME + prepared(login))


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
