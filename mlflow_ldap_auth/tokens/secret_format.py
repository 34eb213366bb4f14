"""What a token secret looks like: ``mldap_`` + 43 random base62 characters + 6 checksum.

``mldap_`` is fixed and documented, so secret scanners (GitHub push protection,
gitleaks, trufflehog) can be taught to find leaked tokens; the 43 characters carry 256
random bits (``secrets.token_bytes(32)``); the last 6 are the CRC-32 of everything
before them, in base62, so a typo or a truncated copy is told apart from a revoked
token without a database look-up, and scanners can rule out false positives.
Base62 (no ``-`` or ``_`` inside) keeps the secret one "word" for a double-click copy.

Stored is only ``secret_hash(secret)``: SHA-256, a *fast* hash on purpose. Slow
password hashes (scrypt, bcrypt) exist to make guessing low-entropy passwords
expensive; a 256-bit random secret cannot be guessed, so a slow hash would only add
~100 ms of CPU to every pipeline request and protect nothing. A database dump still
yields no usable token: SHA-256 cannot be inverted.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

PREFIX = "mldap_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_BYTES = 32
_RANDOM_CHARS = 43  # 62**43 > 2**256
_CHECKSUM_CHARS = 6  # 62**6 > 2**32
SECRET_LENGTH = len(PREFIX) + _RANDOM_CHARS + _CHECKSUM_CHARS
#: For secret scanners (docs/tokens.md#details).
SECRET_PATTERN = re.compile(rf"{PREFIX}[0-9A-Za-z]{{{_RANDOM_CHARS + _CHECKSUM_CHARS}}}")


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECKSUM_CHARS)


def new_secret() -> str:
    """A fresh secret (shown to its owner once, never stored)."""
    body = PREFIX + _base62(
        int.from_bytes(secrets.token_bytes(_RANDOM_BYTES), "big"), _RANDOM_CHARS
    )
    return body + _checksum(body)


def looks_like_secret(text: str) -> bool:
    """Has the prefix: meant as a token (then a bad checksum is a typo, not a password)."""
    return text.startswith(PREFIX)


def mentions_secret(text: str) -> bool:
    """Holds the prefix anywhere: never passed on as a name, a header or a search value."""
    return PREFIX in text


def is_well_formed(text: str) -> bool:
    """Prefix, length, alphabet and checksum all right (no database needed)."""
    if len(text) != SECRET_LENGTH or SECRET_PATTERN.fullmatch(text) is None:
        return False
    body, checksum = text[:-_CHECKSUM_CHARS], text[-_CHECKSUM_CHARS:]
    return secrets.compare_digest(_checksum(body), checksum)


def secret_hash(secret: str) -> str:
    """What the database keeps of a secret (hex SHA-256; see the module docstring)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()
