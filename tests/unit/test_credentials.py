"""Reading a request's credential (``web.credentials``): every spelling, pure."""

from __future__ import annotations

import base64
import random
import typing

import pytest
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.sansio.http import parse_cookie

from mlflow_ldap_auth.auth.login import PASSWORD_METHOD, SESSION_METHOD
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.mlflow_compat.server_process import STATIC_PREFIX_ENV
from mlflow_ldap_auth.sessions import secret_format as session_format
from mlflow_ldap_auth.tokens.secret_format import new_secret
from mlflow_ldap_auth.web.authn import AUTHENTICATORS, credentials_digest
from mlflow_ldap_auth.web.credentials import (
    COOKIE,
    HEADER,
    MAX_AUTHORIZATION_HEADER,
    MAX_SESSION_COOKIE,
    SESSION_COOKIE,
    Credential,
    PasswordCredential,
    SessionCredential,
    TokenCredential,
    credential_source,
    parse_authorization,
    read_credential,
)

SECRET = new_secret()
OTHER_SECRET = new_secret()
SESSION = session_format.new_secret()
OTHER_SESSION = session_format.new_secret()


def basic(raw: bytes | str) -> str:
    return "Basic " + base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode()


def password(login: str, secret: str) -> PasswordCredential:
    return PasswordCredential(login, secret)


READABLE = [
    # Passwords: HTTP Basic user:password, the first colon splits.
    ("basic", basic("alice:alice-password"), password("alice", "alice-password")),
    ("colon-in-password", basic("alice:pa:ss"), password("alice", "pa:ss")),
    ("utf-8", basic("jörg:pässword"), password("jörg", "pässword")),
    ("empty-password", basic("alice:"), password("alice", "")),  # refused by the login
    ("scheme-case", "bASIC " + basic("alice:pw")[6:], password("alice", "pw")),
    ("spaces-around", f"  {basic('alice:pw')}  ", password("alice", "pw")),
    ("domain-form", basic("CORP\\alice:pw"), password("CORP\\alice", "pw")),
    ("upn-form", basic("alice@corp.example:pw"), password("alice@corp.example", "pw")),
    # Tokens: Bearer (MLFLOW_TRACKING_TOKEN).
    ("bearer", f"Bearer {SECRET}", TokenCredential(SECRET)),
    ("bearer-case-spaces", f"bearer   {SECRET}  ", TokenCredential(SECRET)),
    ("bearer-bad-checksum", f"Bearer {SECRET[:-1]}x", TokenCredential(SECRET[:-1] + "x")),
    # Tokens: the secret as the Basic password, the username the claimed owner.
    ("user-secret", basic(f"alice:{SECRET}"), TokenCredential(SECRET, claimed_owner="alice")),
    ("domain-secret", basic(f"CORP\\alice:{SECRET}"), TokenCredential(SECRET, "CORP\\alice")),
    # Tokens: the secret as the Basic username, GitHub style (the password is ignored).
    ("github-empty", basic(f"{SECRET}:"), TokenCredential(SECRET)),
    ("github-x-oauth-basic", basic(f"{SECRET}:x-oauth-basic"), TokenCredential(SECRET)),
    ("github-anything", basic(f"{SECRET}:anything at all"), TokenCredential(SECRET)),
    ("github-spaces", basic(f" {SECRET} :"), TokenCredential(SECRET)),
    ("username-decides", basic(f"{SECRET}:{OTHER_SECRET}"), TokenCredential(SECRET)),
    # A username holding the prefix anywhere is never a directory name.
    ("prefix-in-domain-form", basic(f"CORP\\{SECRET}:pw"), TokenCredential(f"CORP\\{SECRET}")),
    (
        "prefix-in-upn",
        basic(f"{SECRET}@corp.example:pw"),
        TokenCredential(f"{SECRET}@corp.example"),
    ),
    ("cut-short", basic(f"{SECRET[:20]}:pw"), TokenCredential(SECRET[:20])),
]


@pytest.mark.parametrize(
    ("header", "expected"), [case[1:] for case in READABLE], ids=[case[0] for case in READABLE]
)
def test_every_spelling_is_read_as_its_kind(header, expected):
    assert parse_authorization(header) == expected
    assert read_credential("/api/2.0/mlflow/experiments/search", {"Authorization": header}) == (
        expected
    )


UNREADABLE = [
    ("not-basic", "Digest abc", "malformed_header"),
    ("scheme-only", "Basic", "malformed_header"),
    ("scheme-and-spaces", "Basic    ", "malformed_header"),
    ("only-spaces", "   ", "malformed_header"),
    ("bad-base64", "Basic !!!notbase64", "malformed_header"),
    ("no-colon", basic(b"no-colon"), "malformed_header"),
    ("not-utf-8", basic(b"\xff\xfe:password"), "malformed_header"),
    ("over-8-kib", "Basic " + "A" * 9000, "malformed_header"),
    ("bearer-over-8-kib", f"Bearer {SECRET}" + " " * MAX_AUTHORIZATION_HEADER, "malformed_header"),
    ("nul-in-username", basic(b"ali\x00ce:password"), "malformed_username"),
    ("newline-in-username", basic(b"ali\nce:password"), "malformed_username"),
    ("del-in-username", basic(b"ali\x7fce:password"), "malformed_username"),
    ("bearer-not-a-token", "Bearer abc", "not_a_token"),
    ("bearer-empty", "Bearer", "not_a_token"),
    ("bearer-oauth-jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "not_a_token"),
]


@pytest.mark.parametrize(
    ("header", "reason"), [case[1:] for case in UNREADABLE], ids=[case[0] for case in UNREADABLE]
)
def test_unreadable_headers_are_invalid_credentials_with_the_reason(header, reason):
    with pytest.raises(InvalidCredentials) as raised:
        parse_authorization(header)
    assert raised.value.reason == reason


def test_the_cap_is_8_kib_of_header():
    fits = (MAX_AUTHORIZATION_HEADER - len("Basic ")) // 4 * 3 - len("alice:")
    at_the_cap = basic("alice:" + "p" * fits)
    over = basic("alice:" + "p" * (fits + 6))
    assert len(at_the_cap) <= MAX_AUTHORIZATION_HEADER < len(over)
    assert parse_authorization(at_the_cap) == password("alice", "p" * fits)
    with pytest.raises(InvalidCredentials) as raised:
        parse_authorization(over)
    assert raised.value.reason == "malformed_header"


@pytest.mark.parametrize("header", [None, ""])
def test_no_credentials_at_all_is_none(header):
    assert parse_authorization(header) is None
    headers = {} if header is None else {"Authorization": header}
    assert read_credential("/", headers, cookies={"session": "x"}) is None


ALICE = basic("alice:alice-password")
BOB = basic("bob:bob-password")


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/gateway/openai/v1/chat", {"X-MLflow-Authorization": BOB, "Authorization": ALICE}, "bob"),
        (
            "/gateway/openai/v1/chat",
            {"X-MLflow-Authorization": "", "Authorization": ALICE},
            "alice",
        ),
        ("/gateway/openai/v1/chat", {"Authorization": ALICE}, "alice"),
        # Only on /gateway/: elsewhere Authorization is the credential.
        (
            "/api/2.0/mlflow/runs/get",
            {"X-MLflow-Authorization": BOB, "Authorization": ALICE},
            "alice",
        ),
        ("/ajax-api/gateway/x", {"X-MLflow-Authorization": BOB, "Authorization": ALICE}, "alice"),
        ("/api/2.0/mlflow/runs/get", {"X-MLflow-Authorization": BOB}, None),
    ],
    ids=[
        "gateway-header-first",
        "empty-gateway-header",
        "gateway-plain",
        "elsewhere",
        "gateway-not-at-start",
        "elsewhere-only-gateway-header",
    ],
)
def test_the_gateway_header_comes_first_on_gateway_routes(path, headers, expected):
    credential = read_credential(path, Headers(headers))
    assert (credential.login if credential else None) == expected


def test_the_gateway_rule_follows_the_static_prefix(monkeypatch):
    headers = Headers({"X-MLflow-Authorization": BOB, "Authorization": ALICE})
    monkeypatch.setenv(STATIC_PREFIX_ENV, "/mlflow/")
    assert read_credential("/mlflow/gateway/openai/v1/chat", headers).login == "bob"
    assert read_credential("/mlflow/api/2.0/mlflow/runs/get", headers).login == "alice"
    monkeypatch.delenv(STATIC_PREFIX_ENV)
    assert read_credential("/mlflow/gateway/openai/v1/chat", headers).login == "alice"


def test_each_kind_names_its_audit_method():
    assert PasswordCredential.method == PASSWORD_METHOD == "password"
    assert TokenCredential.method == "token"
    assert SessionCredential.method == SESSION_METHOD == "session"
    assert parse_authorization(ALICE).method == "password"
    assert parse_authorization(f"Bearer {SECRET}").method == "token"
    assert read_credential("/", {}, {SESSION_COOKIE: SESSION}).method == "session"


def test_no_secret_shows_in_a_credentials_repr():
    for credential in (
        parse_authorization(basic("alice:hunter2-password")),
        parse_authorization(basic(f"alice:{SECRET}")),
        parse_authorization(f"Bearer {SECRET}"),
        read_credential("/", {}, {SESSION_COOKIE: SESSION}),
    ):
        shown = repr(credential) + str(credential)
        assert "hunter2" not in shown and SECRET not in shown and SECRET[6:20] not in shown
        assert SESSION not in shown and SESSION[14:30] not in shown
    assert "alice" in repr(parse_authorization(basic(f"alice:{SECRET}")))  # the name stays


# -- the session cookie --------------------------------------------------------------
API_PATH = "/api/2.0/mlflow/experiments/search"
GATEWAY_PATH = "/gateway/openai/v1/chat"


def cookies(header: str) -> MultiDict:
    """A ``Cookie`` header as a Flask request reads it."""
    return parse_cookie(header)


def test_the_session_cookie_is_read_without_a_credential_header():
    read = read_credential(API_PATH, {}, cookies(f"theme=dark; {SESSION_COOKIE}={SESSION}"))
    assert read == SessionCredential(SESSION)
    assert read_credential(API_PATH, {"Authorization": ""}, {SESSION_COOKIE: SESSION}) == (
        SessionCredential(SESSION)
    )
    # Outside /gateway/ the gateway header is no credential header.
    assert read_credential(
        API_PATH, {"X-MLflow-Authorization": BOB}, {SESSION_COOKIE: SESSION}
    ) == SessionCredential(SESSION)
    assert read_credential(API_PATH, {}, cookies("session=flask-session; other=1")) is None
    assert read_credential(API_PATH, {}, None) is None


@pytest.mark.parametrize(
    "header",
    [ALICE, f"Bearer {SECRET}", "Basic !!!"],
    ids=["password", "token", "malformed"],
)
def test_a_credential_header_wins_over_the_cookie(header):
    """A script's token acts as its owner, a malformed header is refused, not rescued."""
    jar = {SESSION_COOKIE: SESSION}
    try:
        read = read_credential(API_PATH, {"Authorization": header}, jar)
    except InvalidCredentials:
        read = None
    assert read == (parse_authorization(header) if header != "Basic !!!" else None)
    assert not isinstance(read, SessionCredential)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-MLflow-Authorization": BOB, "Authorization": ALICE}, "bob"),
        ({"Authorization": "Bearer sk-provider-key"}, SESSION),
        ({"X-MLflow-Authorization": "", "Authorization": ALICE}, SESSION),
        ({}, SESSION),
    ],
    ids=["gateway-header-first", "cookie-before-authorization", "empty-gateway-header", "only"],
)
def test_on_the_gateway_the_cookie_comes_between_the_two_headers(headers, expected):
    read = read_credential(GATEWAY_PATH, Headers(headers), {SESSION_COOKIE: SESSION})
    assert (read.login if isinstance(read, PasswordCredential) else read.secret) == expected


@pytest.mark.parametrize(
    "jar",
    [
        {SESSION_COOKIE: SESSION[:-1] + "!"},  # odd character
        {SESSION_COOKIE: SESSION[:-1]},  # one short
        {SESSION_COOKIE: SESSION + "A"},  # one long
        {SESSION_COOKIE: SECRET},  # an access token is no session
        {SESSION_COOKIE: "forged"},
        {SESSION_COOKIE: ""},
        {SESSION_COOKIE: SESSION + "A" * MAX_SESSION_COOKIE},  # over 4 KiB
        {SESSION_COOKIE: "mldap_session_" + "\xff\u00e9\x00\n" * 11},  # odd bytes
        {SESSION_COOKIE: "\udcff" * 57},  # lone surrogates (undecodable bytes)
        cookies(f"{SESSION_COOKIE}={SESSION}; {SESSION_COOKIE}={OTHER_SESSION}"),
        cookies(f"{SESSION_COOKIE}={SESSION}; {SESSION_COOKIE}={SESSION}"),
        cookies(f'{SESSION_COOKIE}="forged\\"{SESSION}"'),  # quoted, escaped
    ],
    ids=[
        "odd-character",
        "short",
        "long",
        "access-token",
        "forged",
        "empty",
        "over-4-kib",
        "odd-bytes",
        "surrogates",
        "two-sessions",
        "the-same-twice",
        "quoted",
    ],
)
def test_a_cookie_that_is_no_session_secret_is_an_unknown_session(jar):
    """Read as the session ``""``, which the session check refuses as unknown (401)."""
    assert read_credential(API_PATH, {}, jar) == SessionCredential("")
    assert not session_format.is_well_formed("")


def test_fuzzed_cookie_headers_are_read_without_an_error():
    """Whatever bytes a Cookie header holds: None or a session credential, nothing else."""
    rng = random.Random(20261207)
    alphabet = [chr(c) for c in range(256)] + ["=", ";", '"', "\\", " ", SESSION_COOKIE]
    for _ in range(2000):
        header = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        if rng.random() < 0.5:
            header = f"{SESSION_COOKIE}={header}"
        read = read_credential(API_PATH, {}, parse_cookie(header))
        assert read is None or read in (SessionCredential(""), SessionCredential(read.secret))
        assert read is None or read.secret == "" or session_format.is_well_formed(read.secret)


def test_the_source_says_where_the_credential_was_found():
    """A header and a cookie of the same text are different credentials to preauth."""
    jar = {SESSION_COOKIE: SESSION}
    assert credential_source(API_PATH, {"Authorization": ALICE}, jar) == (HEADER, ALICE)
    assert credential_source(API_PATH, {}, jar) == (COOKIE, SESSION)
    assert credential_source(API_PATH, {}, {}) is None
    as_header = credentials_digest((HEADER, SESSION))
    assert as_header != credentials_digest((COOKIE, SESSION))
    assert credentials_digest((COOKIE, SESSION)) != credentials_digest((COOKIE, OTHER_SESSION))
    assert credentials_digest(None) != credentials_digest((COOKIE, ""))


def test_every_kind_has_one_authenticator():
    assert set(typing.get_args(Credential)) == set(AUTHENTICATORS)
