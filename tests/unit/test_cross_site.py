"""The cross-site rule of the session cookie (docs/security.md#cross-site-requests):
``origins.cross_site`` on its own, then behind ``authn.check_current_request`` in a Flask
request with a session check that knows one session."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from flask import Flask

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth import audit
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.plugin import EXTENSION
from mlflow_ldap_auth.sessions import secret_format
from mlflow_ldap_auth.web import authn
from mlflow_ldap_auth.web.credentials import SESSION_COOKIE
from mlflow_ldap_auth.web.origins import cross_site

HOST = "mlflow.example.com"


@pytest.mark.parametrize(
    ("method", "headers", "host", "scheme", "refused_by"),
    [
        ("POST", {"Origin": "https://evil.example"}, HOST, "https", "Origin"),
        ("PUT", {"Origin": "https://wiki.example.com"}, HOST, "https", "Origin"),
        ("PATCH", {"Origin": f"https://{HOST}:8443"}, HOST, "https", "Origin"),
        ("delete", {"Origin": "null"}, HOST, "https", "Origin"),
        ("POST", {"Origin": "not a url"}, HOST, "https", "Origin"),
        ("POST", {"Sec-Fetch-Site": "cross-site"}, HOST, "https", "Sec-Fetch-Site"),
        ("POST", {"Sec-Fetch-Site": "same-site"}, HOST, "https", "Sec-Fetch-Site"),
        (
            "POST",
            {"Origin": f"https://{HOST}", "Sec-Fetch-Site": "cross-site"},
            HOST,
            "https",
            "Sec-Fetch-Site",
        ),
        # Served: its own origin, by its own pages or the person, or a method that reads.
        ("POST", {"Origin": f"https://{HOST}"}, HOST, "https", None),
        ("POST", {"Origin": f"https://{HOST.upper()}:443"}, HOST, "https", None),
        # Behind a TLS-terminating proxy the request arrives as plain HTTP.
        ("POST", {"Origin": f"https://{HOST}"}, HOST, "http", None),
        ("POST", {"Origin": "http://127.0.0.1:5000"}, "127.0.0.1:5000", "http", None),
        ("POST", {"Sec-Fetch-Site": "same-origin"}, HOST, "https", None),
        ("POST", {"Sec-Fetch-Site": "none"}, HOST, "https", None),
        ("POST", {}, HOST, "https", None),
        (
            "GET",
            {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            HOST,
            "https",
            None,
        ),
        ("HEAD", {"Origin": "https://evil.example"}, HOST, "https", None),
        ("OPTIONS", {"Sec-Fetch-Site": "cross-site"}, HOST, "https", None),
    ],
)
def test_which_requests_another_site_sent(method, headers, host, scheme, refused_by):
    said = cross_site(method, headers, host, scheme)
    assert (said.split(":")[0] if said else None) == refused_by


def test_what_is_quoted_stays_short():
    said = cross_site("POST", {"Origin": "https://" + "a" * 5000}, HOST, "https")
    assert said is not None and len(said) < 300


# -- behind the request's check ---------------------------------------------------------
class Sessions:
    def __init__(self) -> None:
        self.secret = secret_format.new_secret()
        self.down = False

    def authenticate(self, secret, source):
        if self.down:
            raise DirectoryUnavailable("down", reason=reasons.OUTAGE_GRACE_OVER)
        if secret != self.secret:
            raise InvalidCredentials("session refused", reason=reasons.UNKNOWN_SESSION)
        return Principal(username="alice", is_admin=False, method="session")


class Logins:
    def login(self, login, password, source):
        if (login, password) != ("alice", "alice-password"):
            raise InvalidCredentials("wrong", reason=reasons.BAD_PASSWORD)
        return Principal(username="alice", is_admin=False)

    def audit_refusal(self, *args, **kwargs):
        pass


@pytest.fixture
def app():
    app = Flask(__name__)
    app.extensions[EXTENSION] = SimpleNamespace(
        login_service=Logins(), sessions=Sessions(), negotiate=None
    )
    return app


@pytest.fixture
def audited():
    records: list[dict] = []
    audit.add_sink(records.append)
    yield records
    audit.remove_sink(records.append)


def check(app, method="POST", cookie=None, **headers):
    sessions = app.extensions[EXTENSION].sessions
    cookie = sessions.secret if cookie is None else cookie
    headers = {key.replace("_", "-"): value for key, value in headers.items()}
    headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    with app.test_request_context(
        "/api/2.0/mlflow/experiments/create",
        method=method,
        headers=headers,
        base_url="http://mlflow.example.com",
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    ):
        return authn.check_current_request()


def test_a_cross_site_write_on_the_cookie_is_refused_and_audited(app, audited):
    answer = check(app, Origin="https://evil.example")
    assert answer.status_code == 403
    assert answer.json["error_code"] == "PERMISSION_DENIED"
    [line] = audited
    assert line["event"] == reasons.SESSION_REFUSED == "session_refused"
    assert (line["user"], line["result"], line["reason"]) == ("alice", "refused", "cross_site")
    assert (line["method"], line["sent_by"], line["source"]) == (
        "POST",
        "Origin: https://evil.example",
        "192.0.2.9",
    )
    assert app.extensions[EXTENSION].sessions.secret not in repr(line)


def test_the_same_write_from_the_servers_own_page_is_served(app, audited):
    answer = check(app, Origin="http://mlflow.example.com", Sec_Fetch_Site="same-origin")
    assert answer.username == "alice"
    assert audited == []


def test_a_password_is_not_concerned_by_the_rule(app, audited):
    """A browser never adds a header by itself: a header is what the client means."""
    header = "Basic " + base64.b64encode(b"alice:alice-password").decode()
    answer = check(app, Origin="https://evil.example", Authorization=header)
    assert answer.username == "alice"


def test_a_session_that_is_over_is_401_without_a_challenge(app):
    answer = check(app, method="GET", cookie=secret_format.new_secret())
    assert answer.status_code == 401
    assert "WWW-Authenticate" not in answer.headers
    assert answer.json["error_code"] == "UNAUTHENTICATED"
    assert "session" in answer.json["message"]
    # No credentials at all keep the Basic challenge (API clients see it unchanged).
    with app.test_request_context("/api/2.0/mlflow/experiments/search"):
        assert authn.check_current_request().headers["WWW-Authenticate"].startswith("Basic")


def test_an_over_session_is_401_before_the_cross_site_rule(app):
    answer = check(app, cookie="forged", Origin="https://evil.example")
    assert answer.status_code == 401
    assert "WWW-Authenticate" not in answer.headers


def test_a_directory_outage_past_the_grace_stays_503(app):
    app.extensions[EXTENSION].sessions.down = True
    answer = check(app, method="GET")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
