"""The token secret's format: prefix, 256 random bits, a checksum that catches typos."""

import re

from mlflow_ldap_auth.tokens.secret_format import (
    PREFIX,
    SECRET_LENGTH,
    SECRET_PATTERN,
    is_well_formed,
    looks_like_secret,
    new_secret,
    secret_hash,
)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def test_a_new_secret_has_the_documented_shape():
    secret = new_secret()
    assert secret.startswith("mldap_") and PREFIX == "mldap_"
    assert len(secret) == SECRET_LENGTH == 55
    assert re.fullmatch(r"mldap_[0-9A-Za-z]{49}", secret)
    assert SECRET_PATTERN.fullmatch(secret)
    assert is_well_formed(secret) and looks_like_secret(secret)


def test_secrets_do_not_repeat():
    assert len({new_secret() for _ in range(2000)}) == 2000


def test_every_single_character_typo_is_caught():
    secret = new_secret()
    for position in range(len(PREFIX), len(secret)):
        for replacement in ALPHABET:
            if replacement == secret[position]:
                continue
            typo = secret[:position] + replacement + secret[position + 1 :]
            assert not is_well_formed(typo), (position, replacement)


def test_truncated_padded_and_foreign_texts_are_not_well_formed():
    secret = new_secret()
    for text in [
        secret[:-1],
        secret + "0",
        " " + secret,
        secret.upper(),
        "ghp_" + secret[6:],
        "mldap_" + "0" * 49,
        "",
        "mldap_",
        secret[:-6] + "-_-_-_",
        secret.replace("m", "\uff4d", 1),  # a full-width m
    ]:
        assert not is_well_formed(text), text


def test_the_stored_hash_is_sha256_hex_and_not_the_secret():
    secret = new_secret()
    digest = secret_hash(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert secret[6:20] not in digest
    assert secret_hash(secret) == digest and secret_hash(new_secret()) != digest
