"""``Authorization: Negotiate`` as the parser reads it (``web.credentials``), pure."""

from __future__ import annotations

import base64

import pytest

from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.web.credentials import (
    MAX_AUTHORIZATION_HEADER,
    MAX_NEGOTIATE_TOKEN,
    NegotiateCredential,
    PasswordCredential,
    parse_authorization,
    read_credential,
)
from mlflow_ldap_auth.web.http_answers import unauthenticated

pytestmark = pytest.mark.unit

TOKEN = bytes(range(256)) * 4


def negotiate(raw: bytes) -> str:
    return "Negotiate " + base64.b64encode(raw).decode()


def refusal(header: str, negotiate: bool = True) -> str:
    with pytest.raises(InvalidCredentials) as raised:
        parse_authorization(header, negotiate=negotiate)
    return raised.value.reason


def test_without_kerberos_a_negotiate_header_is_refused_as_before():
    assert refusal(negotiate(TOKEN), negotiate=False) == "malformed_header"


@pytest.mark.parametrize("scheme", ["Negotiate", "negotiate", "NEGOTIATE"])
def test_with_kerberos_the_token_is_read_decoded(scheme):
    header = scheme + " " + base64.b64encode(TOKEN).decode()
    assert parse_authorization(header, negotiate=True) == NegotiateCredential(TOKEN)


def test_a_ticket_larger_than_basics_bound_is_read():
    raw = b"\x60" * 30_000  # an AD ticket with a large PAC: 40 KiB of base64
    header = negotiate(raw)
    assert len(header) > MAX_AUTHORIZATION_HEADER
    assert parse_authorization(header, negotiate=True) == NegotiateCredential(raw)


@pytest.mark.parametrize(
    "header",
    [
        "Negotiate",
        "Negotiate ",
        "Negotiate !!!not-base64!!!",
        "Negotiate YWJj=x",
        "Negotiate " + "A" * (MAX_NEGOTIATE_TOKEN + 4),
    ],
)
def test_an_empty_oversized_or_broken_token_is_malformed_negotiate(header):
    assert refusal(header) == "malformed_negotiate"


def test_basic_and_bearer_are_read_as_ever_with_kerberos_on():
    header = "Basic " + base64.b64encode(b"alice:pw").decode()
    assert parse_authorization(header, negotiate=True) == PasswordCredential("alice", "pw")
    assert refusal("Basic " + "A" * MAX_AUTHORIZATION_HEADER) == "malformed_header"


def test_the_token_is_not_in_the_repr():
    credential = NegotiateCredential(b"secret-ticket-bytes")
    assert "secret-ticket" not in repr(credential)
    assert credential.method == "negotiate"


def test_read_credential_passes_kerberos_on():
    headers = {"Authorization": negotiate(TOKEN)}
    assert read_credential("/api/2.0/mlflow/experiments/list", headers, negotiate=True) == (
        NegotiateCredential(TOKEN)
    )
    with pytest.raises(InvalidCredentials):
        read_credential("/api/2.0/mlflow/experiments/list", headers)


def test_the_401_offers_negotiate_before_basic_only_with_kerberos():
    assert unauthenticated().headers.getlist("WWW-Authenticate") == ['Basic realm="mlflow"']
    # One header: MLflow's security middleware keeps one header of each name.
    assert unauthenticated(negotiate=True).headers.getlist("WWW-Authenticate") == [
        'Negotiate, Basic realm="mlflow"'
    ]
