"""Parsing of the Authorization header: pure."""

import base64

import pytest

from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.web.authn import parse_basic_credentials


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
