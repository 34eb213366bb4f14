"""Parsing of the Authorization header: pure."""

import base64

import pytest

from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.tokens.secret_format import new_secret
from mlflow_ldap_auth.web.authn import TokenCredential, parse_basic_credentials, parse_credentials


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_good_header():
    assert parse_basic_credentials(basic(b"alice:pa:ss")) == ("alice", "pa:ss")
    assert parse_basic_credentials(basic("jörg:pässword".encode())) == ("jörg", "pässword")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!notbase64",
        basic(b"no-colon"),
        basic(b"\xff\xfe:password"),
        basic(b"ali\x00ce:password"),
        "Basic " + "A" * 9000,
    ],
)
def test_malformed_headers_are_invalid_credentials(header):
    with pytest.raises(InvalidCredentials):
        parse_basic_credentials(header)


SECRET = new_secret()


@pytest.mark.parametrize(
    "raw",
    [
        f"{SECRET}:".encode(),  # GitHub style, empty password
        f"{SECRET}:x-oauth-basic".encode(),
        f"{SECRET}:anything at all".encode(),
        f" {SECRET} :".encode(),  # pasted with spaces around
        f"{SECRET}:mldap_another-token".encode(),  # the username decides
    ],
    ids=["empty", "x-oauth-basic", "any", "spaces", "token-as-password-too"],
)
def test_a_secret_sent_as_the_username_is_a_token(raw):
    assert parse_credentials(basic(raw)) == TokenCredential(SECRET)


@pytest.mark.parametrize(
    "login",
    [f"CORP\\{SECRET}", f"{SECRET}@corp.example", SECRET[:20]],
    ids=["domain", "upn", "cut-short"],
)
def test_a_username_holding_the_prefix_is_never_a_directory_name(login):
    credential = parse_credentials(basic(f"{login}:password".encode()))
    assert isinstance(credential, TokenCredential)
    assert credential.claimed_owner is None


def test_the_usual_forms_stay_as_they_were():
    assert parse_credentials(basic(b"alice:alice-password")) == ("alice", "alice-password")
    assert parse_credentials(basic(f"alice:{SECRET}".encode())) == TokenCredential(
        SECRET, claimed_owner="alice"
    )
    assert parse_credentials(f"Bearer {SECRET}") == TokenCredential(SECRET)
