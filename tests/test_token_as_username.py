"""A token secret sent as the *username*: GitHub-style clients, and secrets pasted there.

Tools built for GitHub send a token as the Basic username with an empty password, or
with ``x-oauth-basic``. A real ``mlflow server --app-name ldap-auth`` against the real
slapd shows that such a request acts as the token's owner, and that a secret typed in
the username field (good, revoked, unknown, cut short, inside ``DOMAIN\\...``) never
reaches the directory (slapd's stats log), the audit log or any other server log line,
the activity table (REST) or the plugin's database.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from mlflow_ldap_auth.tokens.secret_format import new_secret
from servers import (
    CAROL,
    PASSWORDS,
    audit_lines,
    basic_header,
    client_as,
    slapd_barrier,
    slapd_count,
    start_server,
    wait_until,
)

TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
ACTIVITY = "/api/2.0/mlflow/ldap-auth/activity"
CURRENT_USER = "/api/2.0/mlflow/users/current"
ALICE = ("alice", PASSWORDS["alice"])
#: What GitHub-style clients put in the password when the token is the username.
PASSWORDS_SENT_WITH_A_TOKEN = ["", "x-oauth-basic", "x", "alice-password"]


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(tmp_path_factory, slapd, name="token-username") as running:
        yield running


def create_token(server, name: str) -> dict:
    response = requests.post(
        server.url + TOKENS, json={"name": name, "expires_in_days": 1}, auth=ALICE, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def current_user(server, login: str, password: str) -> requests.Response:
    raw = f"{login}:{password}".encode()
    return requests.get(server.url + CURRENT_USER, headers=basic_header(raw), timeout=30)


def test_github_style_token_as_username_acts_as_its_owner(server):
    secret = create_token(server, "github-style")["secret"]
    for password in PASSWORDS_SENT_WITH_A_TOKEN:
        response = current_user(server, secret, password)
        assert response.status_code == 200, (password, response.text)
        assert response.json()["user"]["username"] == "alice"
    # MLflow's own client, configured the way such tools are.
    with client_as(server, secret, "x-oauth-basic") as client:
        assert client.get_experiment("0").name == "Default"


def test_a_secret_as_username_is_never_a_directory_name(server, slapd):
    revoked = create_token(server, "revoked-later")
    gone = requests.delete(f"{server.url}{TOKENS}/{revoked['token']['id']}", auth=ALICE, timeout=30)
    assert gone.status_code == 200, gone.text
    secrets = [revoked["secret"], new_secret()]  # revoked; well formed but unknown
    logins = [
        *secrets,
        secrets[1][:30],  # cut short while copying
        f"CORP\\{secrets[1]}",
        f"{secrets[1]}@example.org",
    ]
    for login in logins:
        for password in PASSWORDS_SENT_WITH_A_TOKEN:
            response = current_user(server, login, password)
            assert response.status_code == 401, (login, password, response.text)
            assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    # Barriers: a marker login after them, in slapd's log and in the activity table.
    assert current_user(server, "dave", "not-daves-password-7").status_code == 401
    slapd_barrier(slapd)
    wait_until(
        lambda: activity_records(server, user="dave"),
        "the marker login never reached the activity table",
    )
    fragments = {secret[len("mldap_") : len("mldap_") + 20] for secret in secrets}
    for fragment in fragments:
        # slapd logs a filter's value normalized (uid matches case-insensitively).
        assert slapd_count(slapd, fragment.lower()) == 0, "a secret was sent to the directory"
        assert fragment not in server.log(), "a secret reached the server's log"
        assert fragment not in json.dumps(activity_records(server)), "in the activity table"
        assert fragment not in database_text(server), "a secret reached the database"
    # Each was refused as a token (audited without the secret), none as a password.
    refusals = audit_lines(server, event="token_refused")
    assert len(refusals) == len(logins) * len(PASSWORDS_SENT_WITH_A_TOKEN)
    assert {refusal["user"] for refusal in refusals} <= {None, "alice"}
    password_refusals = audit_lines(server, event="login", result="refused")
    assert [refusal["user"] for refusal in password_refusals] == ["dave"]  # the marker


def activity_records(server, **filters) -> list[dict]:
    response = requests.get(
        server.url + ACTIVITY,
        params={"max_results": 500, **filters},
        auth=CAROL,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["records"]


def database_text(server) -> str:
    path = server.config_path.parent / "auth.db"
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "".join(repr(db.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
