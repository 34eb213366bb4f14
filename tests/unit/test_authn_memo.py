"""One credential check per HTTP request, however often MLflow asks within it."""

import base64
from types import SimpleNamespace

from flask import Flask
from werkzeug.datastructures import Authorization

from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.plugin import EXTENSION
from mlflow_ldap_auth.web import authn


class CountingService:
    def __init__(self):
        self.logins = 0
        self.refusals = []

    def login(self, login, password, source):
        self.logins += 1
        if password != "right":
            raise InvalidCredentials("wrong")
        return Principal(username=login.lower(), is_admin=False)

    def audit_refusal(self, login, source, error):
        self.refusals.append(error.reason)


def make_app(service):
    app = Flask(__name__)
    # Only the part of the Plugin that request authentication uses.
    app.extensions[EXTENSION] = SimpleNamespace(login_service=service, negotiate=None)
    return app


def header(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_repeated_calls_within_one_request_check_once():
    service = CountingService()
    app = make_app(service)
    with app.test_request_context(headers=header("ALICE", "right")):
        results = [authn.authenticate_request() for _ in range(3)]
    assert service.logins == 1
    assert all(isinstance(result, Authorization) for result in results)
    assert results[0].username == "alice"  # canonical name, not as typed
    assert results[0].password is None  # the password is never passed on
    with app.test_request_context(headers=header("alice", "right")):
        authn.authenticate_request()
    assert service.logins == 2  # a new request checks again (the cache makes it cheap)


def test_refusal_is_answered_once_and_audited_once():
    service = CountingService()
    app = make_app(service)
    with app.test_request_context(headers=header("alice", "wrong")):
        answers = [authn.authenticate_request() for _ in range(3)]
    assert service.logins == 1
    assert service.refusals == ["invalid_credentials"]
    assert all(answer.status_code == 401 for answer in answers)
