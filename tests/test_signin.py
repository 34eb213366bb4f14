"""The sign-in page, sign-out, and browsers sent there (docs/signing-in.md).

Against real slapd and ``mlflow server --workers 2`` (``allowed_groups`` set,
``login_domains = EXAMPLE``): a browser navigation without credentials goes to the page
(``303`` with ``next``), API calls keep their ``401``; the page is a form with a CSRF
token; a right password in any spelling Basic accepts opens a session (a row of the
server's database, read here through ``SessionStore``) and sets the cookie with its
attributes; wrong, unknown and throttled say one thing with ``401`` and no cookie; an
account outside ``allowed_groups`` gets ``403``; ``next`` never leads off the server;
a cookie sent before sign-in is never kept (its session ends); sign-out ends the row
and clears the cookie; CSRF is required; the secret appears in no log, page or
database. One server with a directory that does not answer (``503``) and one with
``login_page = false`` (no redirect, no page). In Chromium, with JavaScript on and off,
the page is usable and tidy at 1280 and 390 px, and a sign-in sets the cookie.
At the end, with the cookie on the request path: after sign-in the browser lands on
``next`` signed in, ``/me`` offers the sign-out form, and a signed-out cookie replayed
is refused: ``401`` without a challenge for an API call, the sign-in page for a
navigation.
"""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from browser import ANSWER_SECONDS, fits, patient, shot
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.sessions.secret_format import PREFIX as SECRET_PREFIX
from mlflow_ldap_auth.sessions.secret_format import secret_hash
from mlflow_ldap_auth.sessions.store import SessionStore
from servers import (
    ADMIN_PASSWORD,
    USERS_DN,
    add_person,
    audit_lines,
    free_port,
    start_server,
    wait_for_audit,
)

LOGIN = "/ldap-auth/login"
LOGOUT = "/ldap-auth/logout"
COOKIE = "mlflow_ldap_session"
ME = "/api/2.0/mlflow/ldap-auth/me"
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
REFUSED = "Wrong username or password, or too many attempts: try again."
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        slapd,
        name="signin",
        workers=2,
        allowed_groups=USERS_DN,
        login_domains="EXAMPLE",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def sessions(server):
    engine = tables.create_engine(f"sqlite:///{server.config_path.parent / 'auth.db'}")
    yield SessionStore(engine)
    engine.dispose()


@pytest.fixture
def person(slapd):
    """A directory user of this test alone (in ``allowed_groups``): (uid, password)."""
    uid = f"signin-{uuid.uuid4().hex[:8]}"
    add_person(slapd, uid, f"{uid}-password", groups=[USERS_DN])
    return uid, f"{uid}-password"


def page_form(server, http: requests.Session, query: str = "") -> str:
    """Open the sign-in page in ``http`` (its Flask session keeps the CSRF secret); the token."""
    answer = http.get(server.url + LOGIN + query, timeout=ANSWER_SECONDS)
    assert answer.status_code == 200, answer.text
    match = CSRF_FIELD.search(answer.text)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def sign_in(server, username, password, *, next_="/", http=None, token=None, **kwargs):
    """POST the sign-in form (after opening the page for its token); the raw answer."""
    http = http or requests.Session()
    token = page_form(server, http) if token is None else token
    return http.post(
        server.url + LOGIN,
        data={"csrf_token": token, "username": username, "password": password, "next": next_},
        allow_redirects=False,
        timeout=ANSWER_SECONDS,
        **kwargs,
    )


def set_cookie(answer, name=COOKIE) -> str | None:
    """The ``Set-Cookie`` header ``answer`` sets for ``name`` (None: none)."""
    for header in answer.raw.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    return None


def cookie_value(answer) -> str:
    header = set_cookie(answer)
    assert header is not None, answer.headers
    return header.split(";", 1)[0].split("=", 1)[1]


def attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")[1:]]
    return {k.lower(): v for k, _, v in (part.partition("=") for part in parts)}


# -- browsers are sent to the page ----------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/ldap-admin/", "/ldap-admin/status?x=1&y=%20", "/#/experiments"]
)
def test_a_navigation_without_credentials_goes_to_the_sign_in_page(server, path):
    answer = requests.get(
        server.url + path, headers=NAVIGATION, allow_redirects=False, timeout=ANSWER_SECONDS
    )
    assert answer.status_code == 303, answer.text
    assert "WWW-Authenticate" not in answer.headers
    location = urlsplit(answer.headers["Location"])
    assert location.path == LOGIN
    asked = path.split("#")[0]  # a browser never sends the fragment
    assert parse_qs(location.query) == {"next": [asked]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "application/json"},
        {**NAVIGATION, "Sec-Fetch-Mode": "cors"},  # MLflow's own fetch calls
        {"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"},
    ],
    ids=["client", "json", "fetch", "xhr"],
)
def test_api_calls_keep_the_401_challenge(server, headers):
    for path in ("/api/2.0/mlflow/experiments/search?max_results=1", "/ldap-admin/"):
        answer = requests.get(
            server.url + path, headers=headers, allow_redirects=False, timeout=ANSWER_SECONDS
        )
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'


def test_a_navigation_with_basic_credentials_is_served(server):
    answer = requests.get(
        server.url + "/ldap-admin/tokens/",
        headers=NAVIGATION,
        auth=("alice", "alice-password"),
        allow_redirects=False,
        timeout=ANSWER_SECONDS,
    )
    assert answer.status_code == 200


# -- the page ---------------------------------------------------------------------


def test_the_page_is_a_form_with_a_csrf_token(server):
    http = requests.Session()
    answer = http.get(server.url + LOGIN + "?next=/ldap-admin/", timeout=ANSWER_SECONDS)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    # MLflow's security middleware may set its own X-Frame-Options; the CSP forbids frames.
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert CSRF_FIELD.search(answer.text)
    assert 'name="username"' in answer.text and 'type="password"' in answer.text
    assert 'name="next" type="hidden" value="/ldap-admin/"' in answer.text
    # An address off the server is never put in the form.
    off = http.get(server.url + LOGIN + "?next=//evil.example/", timeout=ANSWER_SECONDS)
    assert "evil.example" not in off.text


SPELLINGS = {
    "as-is": lambda uid: uid,
    "other-case": str.upper,
    "domain": lambda uid: f"EXAMPLE\\{uid}",
    "domain-other-case": lambda uid: f"example\\{uid.title()}",
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_right_password_opens_a_session_in_any_spelling(server, sessions, person, spelling):
    uid, password = person
    typed = SPELLINGS[spelling](uid)
    answer = sign_in(server, typed, password, next_="/ldap-admin/tokens/?a=1")
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"] == "/ldap-admin/tokens/?a=1"
    secret = cookie_value(answer)
    assert secret.startswith(SECRET_PREFIX)
    record = sessions.by_hash(secret_hash(secret))
    assert record is not None and record.ended_at is None
    assert record.owner == uid  # the canonical name, however it was typed
    assert record.source == "127.0.0.1"


def test_the_cookie_is_httponly_lax_for_the_whole_server_and_secure_behind_https(server, person):
    uid, password = person
    plain = attributes(set_cookie(sign_in(server, uid, password)))
    assert "httponly" in plain and "secure" not in plain
    assert plain["samesite"] == "Lax" and plain["path"] == "/"
    assert plain["max-age"] == "604800"  # session_max_seconds
    proxied = sign_in(server, uid, password, headers={"X-Forwarded-Proto": "https"})
    assert "secure" in attributes(set_cookie(proxied))


def test_the_sign_in_is_audited_with_its_method(server, person):
    uid, password = person
    assert sign_in(server, uid, password).status_code == 303
    [line] = wait_for_audit(server, event="login", user=uid, result="success")
    assert line["method"] == "session_sign_in" and line["reason"] == "directory_bind"
    assert line["login"] == uid


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example", ""],
)
def test_next_never_leads_off_the_server(server, person, target):
    uid, password = person
    answer = sign_in(server, uid, password, next_=target)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"


def test_wrong_unknown_and_throttled_say_one_thing_without_a_cookie(server, person):
    uid, password = person
    answers = [sign_in(server, "nobody-" + uid, "some-password")]
    answers += [sign_in(server, uid, f"wrong-{n}") for n in range(3)]  # lockout_threshold
    throttled = sign_in(server, uid, password)  # the right one, past the guard
    answers.append(throttled)
    for answer in answers:
        assert answer.status_code == 401
        assert "WWW-Authenticate" not in answer.headers  # no browser password prompt
        assert REFUSED in answer.text
        assert set_cookie(answer) is None
        assert password not in answer.text and "wrong-" not in answer.text
    refused = audit_lines(server, event="login", user=uid, result="refused")
    assert {line["method"] for line in refused} == {"session_sign_in"}
    assert refused[-1]["reason"] == "throttled"


def test_an_account_outside_allowed_groups_is_told_as_basic_tells_it(server, slapd):
    uid = f"outsider-{uuid.uuid4().hex[:8]}"
    add_person(slapd, uid, "outsider-password")  # in no group
    answer = sign_in(server, uid, "outsider-password")
    assert answer.status_code == 403
    assert "not allowed to use this MLflow server" in answer.text
    assert set_cookie(answer) is None


def test_the_break_glass_admin_gets_no_session(server):
    answer = sign_in(server, "admin", ADMIN_PASSWORD)
    assert answer.status_code == 403
    assert "HTTP Basic" in answer.text
    assert set_cookie(answer) is None


def test_a_token_typed_as_the_password_never_reaches_the_directory(server, person):
    uid, _ = person
    answer = sign_in(server, uid, "mldap_" + "x" * 40)
    assert answer.status_code == 401 and set_cookie(answer) is None
    assert audit_lines(server, event="login", user=uid) == []


def test_the_form_needs_its_csrf_token(server, person):
    uid, password = person
    http = requests.Session()
    page_form(server, http)
    for token in ("", "forged"):
        answer = sign_in(server, uid, password, http=http, token=token)
        assert answer.status_code == 400 and set_cookie(answer) is None
        assert CSRF_FIELD.search(answer.text)  # a fresh form to try again
    assert audit_lines(server, event="login", user=uid) == []


def test_a_cookie_sent_before_sign_in_is_never_kept(server, sessions, person):
    uid, password = person
    planted, planted_secret = sessions.create(
        uid, source=None, password_marker=None, now=int(time.time()), max_seconds=60
    )
    http = requests.Session()
    http.cookies.set(COOKIE, planted_secret)
    answer = sign_in(server, uid, password, http=http)
    assert answer.status_code == 303
    fresh = cookie_value(answer)
    assert fresh != planted_secret
    ended = sessions.by_id(planted.id)
    assert ended.ended_at is not None and ended.ended_reason == "logout"
    assert sessions.by_hash(secret_hash(fresh)).ended_at is None
    # A made-up value is not kept either.
    http.cookies.set(COOKIE, SECRET_PREFIX + "A" * 43)
    assert cookie_value(sign_in(server, uid, password, http=http)) != SECRET_PREFIX + "A" * 43


def test_the_secret_is_in_no_log_page_or_database(server, person):
    uid, password = person
    answer = sign_in(server, uid, password)
    secret = cookie_value(answer)
    assert secret not in answer.text
    assert secret not in server.log()
    with sa.create_engine(f"sqlite:///{server.config_path.parent / 'auth.db'}").connect() as db:
        dump = "\n".join(db.connection.driver_connection.iterdump())
    assert secret not in dump
    assert secret_hash(secret) in dump


# -- sign-out ---------------------------------------------------------------------


def test_sign_out_ends_the_session_and_clears_the_cookie(server, sessions, person):
    uid, password = person
    http = requests.Session()
    secret = cookie_value(sign_in(server, uid, password, http=http))
    token = page_form(server, http)
    answer = http.post(
        server.url + LOGOUT, data={"csrf_token": token}, allow_redirects=False, timeout=60
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == LOGIN + "?signed_out=1"
    cleared = attributes(set_cookie(answer))
    assert cleared["max-age"] == "0" and cleared["path"] == "/"
    record = sessions.by_hash(secret_hash(secret))
    assert record.ended_reason == "logout" and record.ended_by == uid
    wait_for_audit(server, event="session_ended", user=uid, reason="logout")
    signed_out = http.get(server.url + answer.headers["Location"], timeout=ANSWER_SECONDS)
    assert "You are signed out" in signed_out.text


def test_sign_out_without_a_session_still_clears_and_redirects(server):
    http = requests.Session()
    token = page_form(server, http)
    http.cookies.set(COOKIE, SECRET_PREFIX + "B" * 43)
    answer = http.post(server.url + LOGOUT, data={"csrf_token": token}, allow_redirects=False)
    assert answer.status_code == 303 and set_cookie(answer) is not None


def test_sign_out_needs_a_post_with_its_csrf_token(server, sessions, person):
    uid, password = person
    http = requests.Session()
    secret = cookie_value(sign_in(server, uid, password, http=http))
    assert http.get(server.url + LOGOUT, allow_redirects=False).status_code == 405
    forged = http.post(server.url + LOGOUT, data={"csrf_token": "x"}, allow_redirects=False)
    assert forged.status_code == 400 and set_cookie(forged) is None
    assert sessions.by_hash(secret_hash(secret)).ended_at is None


# -- other settings and states ----------------------------------------------------


def test_an_unavailable_directory_says_so(tmp_path):
    with start_server(tmp_path, f"ldap://127.0.0.1:{free_port()}", name="no-directory") as down:
        answer = sign_in(down, "alice", "alice-password")
    assert answer.status_code == 503
    assert "The directory is unavailable" in answer.text
    assert answer.headers["Retry-After"]
    assert set_cookie(answer) is None


def test_login_page_false_keeps_the_basic_challenge_and_has_no_page(slapd, tmp_path):
    with start_server(tmp_path, slapd, name="no-page", login_page="false") as plain:
        navigation = requests.get(plain.url + "/", headers=NAVIGATION, allow_redirects=False)
        page = requests.get(plain.url + LOGIN, headers=NAVIGATION, allow_redirects=False)
        # A session opened while the page was on still signs out, to MLflow's home
        # (where the browser asks for a password), not to the page that is gone.
        engine = tables.create_engine(f"sqlite:///{plain.config_path.parent / 'auth.db'}")
        _, secret = SessionStore(engine).create(
            "alice", source=None, password_marker=None, now=int(time.time()), max_seconds=600
        )
        engine.dispose()
        http = requests.Session()
        http.cookies.set(COOKIE, secret)
        sign_out = http.get(plain.url + ME, timeout=ANSWER_SECONDS).json()["sign_out"]
        signed_out = http.post(
            plain.url + sign_out["action"],
            data={"csrf_token": sign_out["csrf_token"]},
            allow_redirects=False,
            timeout=ANSWER_SECONDS,
        )
    assert navigation.status_code == 401
    assert navigation.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert page.status_code == 404
    assert signed_out.status_code == 303
    assert signed_out.headers["Location"] == "/"


# -- in Chromium --------------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_signing_in_in_a_browser(browser, server, person, javascript):
    uid, password = person
    context = patient(browser.new_context(base_url=server.url, java_script_enabled=javascript))
    try:
        page = context.new_page()
        page.goto("/ldap-admin/tokens/")
        assert urlsplit(page.url).path == LOGIN
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        for width, height in ((1280, 800), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            assert fits(page), width
        shot(page, "sign-in")
        page.get_by_label("Username").fill(uid)
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text(REFUSED)
        page.get_by_label("Password").fill(password)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="Sign in").click()
        assert posted.value.status == 303
        assert posted.value.headers["location"] == "/ldap-admin/tokens/"
        [cookie] = [c for c in context.cookies() if c["name"] == COOKIE]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        if javascript:
            assert page.evaluate("document.cookie").find(COOKIE) < 0
    finally:
        context.close()


# -- the cookie on later requests ------------------------------------------------------


def test_after_sign_in_the_browser_lands_on_next_signed_in(browser, server, person):
    uid, password = person
    context = patient(browser.new_context(base_url=server.url))
    try:
        page = context.new_page()
        page.goto("/ldap-admin/tokens/")
        page.get_by_label("Username").fill(uid)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/ldap-admin/tokens/$"))
        expect(page.get_by_text(uid).first).to_be_visible()
    finally:
        context.close()


def test_me_offers_a_session_the_sign_out_form(server, person):
    uid, password = person
    http = requests.Session()
    assert sign_in(server, uid, password, http=http).status_code == 303
    me = http.get(server.url + ME, headers={"Accept": "application/json"}, timeout=60)
    assert me.status_code == 200, me.text
    sign_out = me.json()["sign_out"]
    assert sign_out["action"] == LOGOUT and sign_out["csrf_token"]
    answer = http.post(
        server.url + sign_out["action"],
        data={"csrf_token": sign_out["csrf_token"]},
        allow_redirects=False,
    )
    assert answer.status_code == 303


def test_a_signed_out_cookie_replayed_is_refused(server, person):
    uid, password = person
    http = requests.Session()
    secret = cookie_value(sign_in(server, uid, password, http=http))
    assert http.get(server.url + ME, timeout=60).status_code == 200
    token = page_form(server, http)
    http.post(server.url + LOGOUT, data={"csrf_token": token}, allow_redirects=False)
    replayed = requests.get(server.url + ME, cookies={COOKIE: secret}, timeout=60)
    assert replayed.status_code == 401
    assert "WWW-Authenticate" not in replayed.headers  # no password prompt over MLflow
    for path in ("/", "/ldap-admin/tokens/"):
        navigation = requests.get(
            server.url + path,
            headers=NAVIGATION,
            cookies={COOKIE: secret},
            allow_redirects=False,
            timeout=ANSWER_SECONDS,
        )
        assert navigation.status_code == 303, (path, navigation.text)
        assert navigation.headers["Location"] == LOGIN + "?next=" + path


def test_mlflows_page_signs_out_and_follows_a_session_ended_elsewhere(
    browser, server, sessions, person
):
    """In MLflow's page: *Sign out* in the bar ends the session and shows the sign-in
    page; a session ended elsewhere sends the page there when the person comes back."""
    uid, password = person
    context = patient(browser.new_context(base_url=server.url))
    try:
        page = context.new_page()

        def sign_in_on_the_page():
            page.goto("/")
            page.get_by_label("Username").fill(uid)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("#ldap-auth-bar")).to_contain_text(uid)

        sign_in_on_the_page()
        sessions.end_all(uid, "ended_by_admin", "carol", int(time.time()))
        page.evaluate("window.dispatchEvent(new Event('focus'))")
        expect(page).to_have_url(re.compile(re.escape(LOGIN) + r"\?next=/$"))

        sign_in_on_the_page()
        page.locator("#ldap-auth-bar").get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You are signed out")).to_be_visible()
        assert not [c for c in context.cookies() if c["name"] == COOKIE]
        assert sessions.page(uid, now=int(time.time()), idle_seconds=28800)[0] == []
    finally:
        context.close()
