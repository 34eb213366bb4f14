"""Which requests go to the sign-in page, and where ``next`` may lead (web/navigation.py;
docs/signing-in.md): browser navigations only, API calls keep their 401; ``next`` only a
path on this server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask

from mlflow_ldap_auth.plugin import EXTENSION
from mlflow_ldap_auth.web import navigation
from mlflow_ldap_auth.web.navigation import (
    is_browser_navigation,
    safe_next,
    sign_in_location,
)

CHROME_NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", CHROME_NAVIGATION, True),
        ("GET", {"Accept": "text/html"}, True),  # a browser without Sec-Fetch-* headers
        ("get", {"Accept": "TEXT/HTML"}, True),
        ("POST", CHROME_NAVIGATION, False),
        ("HEAD", CHROME_NAVIGATION, False),
        ("GET", {}, False),
        ("GET", {"Accept": "*/*"}, False),  # curl, requests, MLflow's client
        ("GET", {"Accept": "application/json"}, False),
        ("GET", {**CHROME_NAVIGATION, "Sec-Fetch-Mode": "cors"}, False),  # fetch()
        ("GET", {**CHROME_NAVIGATION, "Sec-Fetch-Mode": "no-cors"}, False),
        ("GET", {"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, False),
    ],
)
def test_only_a_browser_navigation_is_one(method, headers, expected):
    assert is_browser_navigation(method, headers) is expected


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/#/experiments/1",
        "/ldap-admin/tokens/?user=alice&page_token=x",
        "/ajax-api/2.0/mlflow/experiments/search?max_results=1",
        "/a/%2F%2Fb",
    ],
)
def test_a_path_on_this_server_is_kept(target):
    assert safe_next(target, "") == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.example",
        "//evil.example/path",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",  # browsers drop tabs and newlines: //evil.example
        "/\n/evil.example",
        "/\r/evil.example",
        "/\x00",
        "/\x7f",
        " /ok",
        "/" + "a" * navigation.MAX_NEXT_LENGTH,
    ],
)
def test_anything_else_goes_home(target):
    assert safe_next(target, "") == "/"
    assert safe_next(target, "/mlflow") == "/mlflow/"


def test_the_sign_in_address_carries_next_under_the_prefix():
    assert sign_in_location("", "/") == "/ldap-auth/login?next=/"
    assert (
        sign_in_location("/mlflow", "/mlflow/ldap-admin/?a=1&b=%20")
        == "/mlflow/ldap-auth/login?next=/mlflow/ldap-admin/%3Fa%3D1%26b%3D%2520"
    )
    assert sign_in_location("", "//evil.example") == "/ldap-auth/login?next=/"


@pytest.fixture
def app():
    def make(login_page: bool) -> Flask:
        app = Flask(__name__)
        settings = SimpleNamespace(ldap=SimpleNamespace(login_page=login_page))
        app.extensions[EXTENSION] = SimpleNamespace(settings=settings, negotiate=None)
        return app

    return make


def answer(app, method="GET", path="/", headers=CHROME_NAVIGATION):
    with app.test_request_context(path, method=method, headers=headers):
        return navigation.answer_without_credentials()


def test_a_navigation_goes_to_the_sign_in_page_and_back(app):
    response = answer(app(True), path="/ldap-admin/status?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/ldap-auth/login?next=/ldap-admin/status%3Fx%3D1"


def test_api_calls_and_login_page_off_keep_the_401(app):
    assert answer(app(True), headers={"Accept": "application/json"}) is None
    assert answer(app(True), method="POST") is None
    assert answer(app(False)) is None
