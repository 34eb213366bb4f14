"""Which kind of credential each audit line of a request's check says it decided on.

A real ``LoginService`` (in-memory directory and stores, as in ``test_login_decisions``)
and a real ``TokenAuthenticator``, behind ``authn.check_current_request`` in a Flask
request: ``login`` lines carry ``method`` (``password``, or null for a header no kind
could be read from), ``token_refused`` lines ``"method": "token"``
(docs/reference/audit.md#logins).
"""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from fakes import directory_user
from flask import Flask
from test_login_decisions import ADMIN_PASSWORD, PASSWORD, make_world

from mlflow_ldap_auth.auth import audit
from mlflow_ldap_auth.auth.login import (
    LEGACY_DEFAULT_ADMIN_PASSWORD,
    LOCAL_ADMIN_METHOD,
    SESSION_SIGN_IN_METHOD,
)
from mlflow_ldap_auth.plugin import EXTENSION
from mlflow_ldap_auth.tokens.authenticator import TokenAuthenticator
from mlflow_ldap_auth.tokens.secret_format import new_secret
from mlflow_ldap_auth.web import authn


@pytest.fixture
def audited():
    records: list[dict] = []
    audit.add_sink(records.append)
    yield records
    audit.remove_sink(records.append)


@pytest.fixture
def app(tmp_path):
    world = make_world(tmp_path)
    world.store.create_user("admin", ADMIN_PASSWORD, is_admin=True)
    world.directory.add_user("alice", PASSWORD, directory_user("alice"))
    # A malformed secret is refused before the store or the revalidator is asked.
    tokens = TokenAuthenticator(store=None, revalidator=None, same_name=lambda a, b: False)
    app = Flask(__name__)
    app.extensions[EXTENSION] = SimpleNamespace(
        login_service=world.service, tokens=tokens, negotiate=None
    )
    return app


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def check(app, header: str | None):
    headers = {} if header is None else {"Authorization": header}
    with app.test_request_context(headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.9"}):
        return authn.check_current_request()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("alice", PASSWORD), ("alice", "success", "directory_bind", "password")),
        (basic("admin", ADMIN_PASSWORD), ("admin", "success", "local_admin", "password")),
        (basic("alice", "wrong-password"), ("alice", "refused", "bad_password", "password")),
        (basic("alice", ""), ("alice", "refused", "empty_password", "password")),
        (
            basic("admin", LEGACY_DEFAULT_ADMIN_PASSWORD),
            ("admin", "refused", "legacy_default_password", "password"),
        ),
        ("Basic !!!", (None, "refused", "malformed_header", None)),
        (basic("ali\x01ce", PASSWORD), (None, "refused", "malformed_username", None)),
        ("Bearer not-one-of-ours", (None, "refused", "not_a_token", None)),
    ],
    ids=[
        "directory",
        "break-glass",
        "wrong-password",
        "empty-password",
        "legacy-default",
        "unreadable",
        "control-character",
        "bearer-not-a-token",
    ],
)
def test_login_lines_say_which_kind_of_credential(app, audited, header, expected):
    check(app, header)
    [line] = [record for record in audited if record["event"] == "login"]
    assert (line["user"], line["result"], line["reason"], line["method"]) == expected
    assert "method" in line  # null is written, not left out
    assert line["source"] == "192.0.2.9"


def test_a_refused_token_line_says_token_and_writes_no_login_line(app, audited):
    secret = new_secret()
    typo = secret[:-1] + ("A" if secret[-1] != "A" else "B")  # its checksum fails
    for header in (f"Bearer {typo}", basic("alice", typo)):
        assert check(app, header).status_code == 401
    assert [record["event"] for record in audited] == ["token_refused", "token_refused"]
    assert {(r["reason"], r["method"]) for r in audited} == {("malformed_token", "token")}
    assert [r["user"] for r in audited] == [None, "alice"]


def test_no_credentials_at_all_is_answered_and_not_audited(app, audited):
    answer = check(app, None)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert audited == []


@pytest.mark.parametrize(
    ("login", "password", "expected"),
    [("alice", PASSWORD, ("success", "directory_bind")), ("admin", ADMIN_PASSWORD, None)],
)
def test_the_sign_in_page_says_session_sign_in(app, audited, login, password, expected):
    """The page asks the same login with ``method="session_sign_in"`` (web/signin_pages)."""
    service = app.extensions[EXTENSION].login_service
    principal = service.login(login, password, "192.0.2.9", method=SESSION_SIGN_IN_METHOD)
    [line] = [record for record in audited if record["event"] == "login"]
    assert line["method"] == "session_sign_in"
    if expected is not None:
        assert (line["result"], line["reason"]) == expected
    else:
        assert principal.method == LOCAL_ADMIN_METHOD
