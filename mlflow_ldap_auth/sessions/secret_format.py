"""What a session secret looks like: ``mldap_session_`` + 43 URL-safe random characters.

The secret is the value of the ``mlflow_ldap_session`` cookie; 32 random bytes
(``secrets.token_urlsafe(32)``, 256 bits) cannot be guessed. It carries the access
tokens' prefix ``mldap_`` on purpose: every place that keeps token secrets away from
the directory and from names (``tokens.secret_format.mentions_secret``: a password or
username holding ``mldap_`` is never bound, searched or passed on) keeps a session
secret pasted there away too, without knowing sessions; and secret scanners taught the
tokens' prefix find session cookies leaked in HAR files or logs. A session secret is
never a well-formed token (``_`` after the prefix), so it is refused as one without a
database look-up. No checksum: a cookie is not typed.

Stored is only ``secret_hash(secret)`` (SHA-256; a fast hash, as for tokens: a 256-bit
random secret needs no slow one), so a database dump yields no usable session.
"""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "mldap_session_"
_RANDOM_BYTES = 32
_RANDOM_CHARS = 43  # base64 of 32 bytes, without padding
SECRET_PATTERN = re.compile(rf"{PREFIX}[A-Za-z0-9_-]{{{_RANDOM_CHARS}}}")


def new_secret() -> str:
    """A fresh session secret (set as the cookie once, never stored)."""
    return PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def is_well_formed(text: str) -> bool:
    """Prefix, length and alphabet right: worth a database look-up."""
    return SECRET_PATTERN.fullmatch(text) is not None


def secret_hash(secret: str) -> str:
    """What the database keeps of a secret (hex SHA-256)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()
