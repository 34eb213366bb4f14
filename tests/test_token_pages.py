"""The access-token pages (/ldap-admin/tokens, docs/tokens.md) in a real headless Chromium,
and the sign-in sessions listed and ended there, over REST, the client and the CLI.

Against real slapd and ``mlflow server``: every logged-in directory user creates, lists
and revokes their own tokens there; admins see and revoke everyone's; the secret is
shown once; forms carry CSRF tokens; names are escaped. Sessions (docs/tokens.md#sessions):
each user sees and ends their own, admins anyone's; no answer shows a session's secret.
"""

import calendar
import re
import sqlite3
import time
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import expect

from browser import basic_auth, fits, shot
from servers import (
    ADMIN_PASSWORD,
    audit_lines,
    client_as,
    run_cli,
    start_server,
    wait_for_audit,
)

ALICE = {"username": "alice", "password": "alice-password"}
BOB = {"username": "bob", "password": "bob-password"}
CAROL = {"username": "carol", "password": "carol-password"}  # a directory admin
MAX_DAYS = 60  # token_max_days, below the form's default of 90
PAGE = "/ldap-admin/tokens/"
TOKENS_API = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
SECRET = re.compile(r"mldap_[0-9A-Za-z]{49}")
XSS_NAME = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(tmp_path_factory, slapd, name="tokens-ui", token_max_days=str(MAX_DAYS)) as s:
        yield s


def basic(user: dict) -> tuple[str, str]:
    return user["username"], user["password"]


def api_tokens(server, user=ALICE, **params) -> list[dict]:
    response = requests.get(server.url + TOKENS_API, params=params, auth=basic(user), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["tokens"]


def api_create(server, name: str, user=ALICE, days: int = 7) -> tuple[dict, str]:
    response = requests.post(
        server.url + TOKENS_API,
        json={"name": name, "expires_in_days": days},
        auth=basic(user),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"], response.json()["secret"]


def epoch(iso: str) -> int:
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def bearer_status(server, secret: str) -> int:
    return requests.get(
        server.url + SEARCH,
        headers={"Authorization": "Bearer " + secret, "Connection": "close"},
        timeout=30,
    ).status_code


def wait_for_401(server, secret: str, deadline_s: float = 10.0) -> float:
    """Seconds until a request with ``secret`` is refused (fails after ``deadline_s``)."""
    start = time.monotonic()
    while True:
        status = bearer_status(server, secret)
        if status == 401:
            return time.monotonic() - start
        assert status == 200, status
        assert time.monotonic() - start < deadline_s, f"still {status} after {deadline_s} s"
        time.sleep(0.2)


class _CsrfField(HTMLParser):
    def __init__(self):
        super().__init__()
        self.value = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") == "csrf_token":
            self.value = attrs.get("value")


def csrf_from(html: str) -> str:
    parser = _CsrfField()
    parser.feed(html)
    assert parser.value, "no csrf_token field on the page"
    return parser.value


@pytest.fixture
def context_as(browser, server):
    """``context_as(user, **options)``: a new browser context logged in (HTTP Basic)."""
    contexts = []

    def make(credentials, **options):
        context = browser.new_context(
            extra_http_headers=basic_auth(credentials), base_url=server.url, **options
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def alice_page(context_as):
    return context_as(ALICE).new_page()


def token_row(page, name):
    return page.locator("tbody tr", has=page.locator("td.token-name", has_text=name))


def revoke_link(page, name):
    """The row's "Revoke…" link (its accessible name says which token)."""
    return token_row(page, name).get_by_role("link", name=f"Revoke {name}", exact=True)


def test_create_a_token_shown_once_and_use_it(context_as, server):
    context = context_as(ALICE, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    answer = page.goto(PAGE)
    assert answer.status == 200
    expect(page.get_by_role("heading", name="Your tokens")).to_be_visible()
    expect(page.get_by_role("link", name="Tokens")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="Mappings")).to_have_count(0)  # not an admin
    expect(page.get_by_label("Expires in (days)")).to_have_attribute("max", str(MAX_DAYS))
    expect(page.get_by_label("Expires in (days)")).to_have_value(str(MAX_DAYS))  # not 90

    page.get_by_label("Name").fill("ci-pipeline")
    page.get_by_label("Expires in (days)").fill("30")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Create token").click()
    assert posted.value.status == 200
    assert posted.value.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in posted.value.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Token created")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("not shown again")

    secret = page.get_by_label("Secret").input_value()
    assert SECRET.fullmatch(secret), secret
    html = page.content()
    assert SECRET.findall(html) == [secret]  # once, in the one read-only field
    expect(page.get_by_label("Secret")).not_to_be_editable()
    expect(page.get_by_text(f"export MLFLOW_TRACKING_URI={server.url}").first).to_be_visible()
    expect(page.get_by_text("export MLFLOW_TRACKING_TOKEN=<secret>")).to_be_visible()
    expect(page.get_by_text("export MLFLOW_TRACKING_USERNAME=alice")).to_be_visible()

    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert errors == []
    shot(page, "token-created", mask=[page.get_by_label("Secret")])

    # The secret works as MLflow's MLFLOW_TRACKING_TOKEN sends it.
    assert bearer_status(server, secret) == 200
    (created,) = [t for t in api_tokens(server) if t["name"] == "ci-pipeline"]
    assert epoch(created["expires"]) - epoch(created["created"]) == 30 * 86_400

    page.get_by_role("link", name="Back to the tokens").click()
    page.reload()
    row = token_row(page, "ci-pipeline")
    expect(row).to_have_count(1)
    expect(row.locator(".token-state")).to_have_text("active")
    expect(row).to_contain_text(created["id"])
    assert secret not in page.content()
    listing = requests.get(server.url + PAGE, auth=basic(ALICE), timeout=30)
    assert listing.status_code == 200 and "ci-pipeline" in listing.text
    assert SECRET.search(listing.text) is None


def test_bad_values_are_refused_next_to_their_field(alice_page, server):
    page = alice_page
    before = api_tokens(server)
    page.goto(PAGE)
    cases = [
        ("", "7", "#name-error", "This field is required."),
        ("zero-days", "0", "#expires_in_days-error", f"between 1 and {MAX_DAYS}"),
        ("too-long", str(MAX_DAYS + 1), "#expires_in_days-error", f"between 1 and {MAX_DAYS}"),
        ("no-days", "", "#expires_in_days-error", f"from 1 to {MAX_DAYS}"),
    ]
    for name, days, error_id, message in cases:
        page.get_by_label("Name").fill(name)
        page.get_by_label("Expires in (days)").fill(days)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="Create token").click()
        assert posted.value.status == 400, (name, days)
        expect(page.locator(error_id)).to_contain_text(message)
        field = page.locator(error_id).locator("xpath=..")
        expect(field).to_have_class(re.compile(r"\binvalid\b"))
        # The error sits in the field's own box, and the value typed is kept.
        expect(field.locator("input")).to_have_value(name if error_id == "#name-error" else days)
        expect(field.locator("input")).to_have_attribute("aria-invalid", "true")
    shot(page, "tokens-form-errors")

    # A 101-character name: the browser's maxlength stops it, the server too.
    expect(page.get_by_label("Name")).to_have_attribute("maxlength", "100")
    session = requests.Session()
    session.auth = basic(ALICE)
    form = session.get(server.url + PAGE, timeout=30)
    refused = session.post(
        server.url + PAGE,
        data={"csrf_token": csrf_from(form.text), "name": "x" * 101, "expires_in_days": "7"},
        timeout=30,
    )
    assert refused.status_code == 400
    assert re.search(
        r'<p class="error" id="name-error">Field cannot be longer than 100 characters', refused.text
    )
    assert api_tokens(server) == before


def test_revoke_through_the_confirmation_page(alice_page, server):
    token, secret = api_create(server, "to-revoke")
    assert bearer_status(server, secret) == 200
    page = alice_page
    page.goto(PAGE)
    revoke_link(page, "to-revoke").click()
    expect(page.get_by_role("heading", name="Revoke this token?")).to_be_visible()
    expect(page.locator("dd").first).to_have_text("to-revoke")
    # "Keep it" changes nothing.
    page.get_by_role("link", name="Keep it").click()
    expect(token_row(page, "to-revoke").locator(".token-state")).to_have_text("active")
    assert bearer_status(server, secret) == 200

    revoke_link(page, "to-revoke").click()
    shot(page, "tokens-revoke")
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the token 'to-revoke' of alice.")
    row = token_row(page, "to-revoke")
    expect(row.locator(".token-state")).to_have_text("revoked")
    expect(row.locator("td.actions a")).to_have_count(0)
    wait_for_401(server, secret)
    (listed,) = [t for t in api_tokens(server) if t["id"] == token["id"]]
    assert listed["revoked"] is not None

    # An expired token is shown as such (expiry moved into the past in the database).
    expired, _ = api_create(server, "old-nightly")
    with sqlite3.connect(server.directory / "auth.db") as db:
        db.execute(
            "UPDATE ldap_auth_tokens SET expires_at = ? WHERE id = ?",
            (int(time.time()) - 60, expired["id"]),
        )
    page.reload()
    row = token_row(page, "old-nightly")
    expect(row.locator(".token-state")).to_have_text("expired")
    expect(row.locator("td.actions a")).to_have_count(0)
    shot(page, "tokens")


def test_users_see_only_their_own_and_admins_everyones(context_as, server):
    token, secret = api_create(server, "alice-private")
    bob = context_as(BOB).new_page()
    bob.goto(PAGE)
    expect(bob.get_by_role("heading", name="Your tokens")).to_be_visible()
    expect(bob.locator("header.top")).to_contain_text("Logged in as bob")
    expect(bob.locator("a.brand")).to_have_attribute("href", PAGE)
    assert "alice-private" not in bob.content()
    bob.goto(PAGE + "?user=alice")  # a non-admin's filter is ignored
    assert "alice-private" not in bob.content()
    expect(bob.get_by_role("columnheader", name="Owner")).to_have_count(0)
    answer = bob.goto(f"{PAGE}{token['id']}/revoke")
    assert answer.status == 404
    expect(bob.get_by_role("heading", name="No such token")).to_be_visible()
    bob_session = requests.Session()
    bob_session.auth = basic(BOB)
    own, _ = api_create(server, "bob-own", user=BOB)
    confirm = bob_session.get(server.url + f"{PAGE}{own['id']}/revoke", timeout=30)
    forged = bob_session.post(
        server.url + f"{PAGE}{token['id']}/revoke",
        data={"csrf_token": csrf_from(confirm.text)},
        timeout=30,
    )
    assert forged.status_code == 404
    assert bearer_status(server, secret) == 200

    carol = context_as(CAROL).new_page()
    carol.goto(PAGE)
    expect(carol.get_by_role("heading", name="Everyone's tokens")).to_be_visible()
    expect(carol.get_by_role("link", name="Mappings")).to_be_visible()  # the admin nav
    row = token_row(carol, "alice-private")
    expect(row.locator("td").nth(1)).to_have_text("alice")  # the owner column
    expect(token_row(carol, "bob-own").locator("td").nth(1)).to_have_text("bob")
    carol.get_by_label("Owner").fill("bob")
    carol.get_by_role("button", name="Show").click()
    expect(carol.get_by_role("heading", name="Tokens of bob")).to_be_visible()
    expect(token_row(carol, "alice-private")).to_have_count(0)
    expect(token_row(carol, "bob-own")).to_have_count(1)
    carol.get_by_role("link", name="Everyone's tokens").click()
    revoke_link(carol, "alice-private").click()
    expect(carol.locator("dd").nth(1)).to_have_text("alice")
    carol.get_by_role("button", name="Revoke token").click()
    expect(carol.get_by_role("status")).to_contain_text(
        "Revoked the token 'alice-private' of alice."
    )
    expect(token_row(carol, "alice-private").locator(".token-state")).to_have_text("revoked")
    expect(token_row(carol, "alice-private")).to_contain_text("by carol")
    wait_for_401(server, secret)


def test_a_token_login_lists_but_cannot_create(context_as, server):
    token, secret = api_create(server, "token-login")
    page = context_as({"username": "alice", "password": secret}).new_page()
    answer = page.goto(PAGE)
    assert answer.status == 200
    expect(token_row(page, "token-login")).to_have_count(1)
    expect(page.get_by_role("heading", name="Creating tokens")).to_be_visible()
    expect(page.get_by_role("button", name="Create token")).to_have_count(0)
    expect(page.get_by_label("Name")).to_have_count(0)

    before = api_tokens(server)
    session = requests.Session()
    session.auth = ("alice", secret)
    confirm = session.get(server.url + f"{PAGE}{token['id']}/revoke", timeout=30)
    assert confirm.status_code == 200
    minted = session.post(
        server.url + PAGE,
        data={"csrf_token": csrf_from(confirm.text), "name": "minted", "expires_in_days": "7"},
        timeout=30,
    )
    assert minted.status_code == 400
    assert "a token cannot create tokens" in minted.text
    assert SECRET.search(minted.text) is None
    assert api_tokens(server) == before


def test_the_break_glass_admin_sees_everyones_but_cannot_create(context_as, server):
    api_create(server, "seen-by-break-glass")
    page = context_as({"username": "admin", "password": ADMIN_PASSWORD}).new_page()
    assert page.goto(PAGE).status == 200
    expect(page.get_by_role("heading", name="Everyone's tokens")).to_be_visible()
    expect(token_row(page, "seen-by-break-glass").locator("td").nth(1)).to_have_text("alice")
    expect(page.get_by_role("heading", name="Creating tokens")).to_be_visible()
    expect(page.get_by_role("button", name="Create token")).to_have_count(0)


def test_html_in_a_token_name_is_escaped(alice_page, server):
    page = alice_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(PAGE)
    page.get_by_label("Name").fill(XSS_NAME)
    page.get_by_label("Expires in (days)").fill("1")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token created")).to_be_visible()
    expect(page.locator("dd").first).to_have_text(XSS_NAME)
    assert page.locator("script:not([src])").count() == 0
    page.get_by_role("link", name="Back to the tokens").click()
    row = token_row(page, XSS_NAME)
    expect(row).to_have_count(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()
    assert page.locator("script").count() == 0
    revoke_link(page, XSS_NAME).click()
    expect(page.locator("dd").first).to_have_text(XSS_NAME)
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_role("status")).to_contain_text(XSS_NAME)
    assert page.locator("script").count() == 0
    assert dialogs == []


def test_the_pages_work_without_javascript(context_as, server):
    page = context_as(ALICE, java_script_enabled=False).new_page()
    page.goto(PAGE)
    page.get_by_label("Name").fill("no-js")
    page.get_by_label("Expires in (days)").fill("2")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token created")).to_be_visible()
    assert SECRET.fullmatch(page.get_by_label("Secret").input_value())
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()  # the script shows it
    page.get_by_role("link", name="Back to the tokens").click()
    revoke_link(page, "no-js").click()
    page.get_by_role("button", name="Revoke token").click()
    expect(token_row(page, "no-js").locator(".token-state")).to_have_text("revoked")


# Last: a test without the browser between browser tests restarts Chromium.
def test_a_post_without_the_csrf_token_is_refused(server):
    before = api_tokens(server)
    forged = requests.post(
        server.url + PAGE,
        data={"name": "forged", "expires_in_days": "30"},
        auth=basic(ALICE),
        timeout=30,
    )
    assert forged.status_code == 400
    assert "CSRF token is missing" in forged.text
    assert SECRET.search(forged.text) is None
    assert api_tokens(server) == before
    # A revoke without it changes nothing either.
    token, secret = api_create(server, "csrf-target")
    revoke = requests.post(
        server.url + f"{PAGE}{token['id']}/revoke", data={}, auth=basic(ALICE), timeout=30
    )
    assert revoke.status_code == 400
    assert bearer_status(server, secret) == 200


def seed_tokens(server, owner: str, count: int, created_at: int, **columns) -> list[str]:
    """Token rows of ``owner`` written straight into the server's auth database, newest
    first by index (as many earlier creations would have left them)."""
    import secrets

    rows = [
        (secrets.token_hex(8), owner, f"{owner}-{i:03d}", secrets.token_hex(32), created_at - i)
        for i in range(count)
    ]
    extra = {"expires_at": int(time.time()) + 30 * 86_400, **columns}
    names = ", ".join(extra)
    marks = ", ".join("?" * len(extra))
    with sqlite3.connect(server.config_path.parent / "auth.db") as db:
        db.executemany(
            "INSERT INTO ldap_auth_tokens (id, owner, name, secret_hash, created_at, "
            f"{names}) VALUES (?, ?, ?, ?, ?, {marks})",
            [row + tuple(extra.values()) for row in rows],
        )
    return [row[0] for row in rows]


def follow(page, name: str) -> None:
    """Clicks the link and waits until the page it leads to has loaded, whole.

    A click returns once the next page has started to arrive; reading its table
    before it has all arrived can find some of its rows or none.
    """
    link = page.get_by_role("link", name=name)
    target = urljoin(page.url, link.get_attribute("href"))
    link.click()
    page.wait_for_url(target, wait_until="load")


def shown_ids(page) -> list[str]:
    return page.locator("table.tokens tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.tokenId)"
    )


def test_an_admin_pages_through_many_tokens(context_as, server):
    seeded = seed_tokens(server, "pager", 120, int(time.time()) - 86_400)
    carol = context_as(CAROL).new_page()
    answer = carol.goto(PAGE + "?user=pager")
    assert answer.status == 200
    expect(carol.get_by_role("heading", name="Tokens of pager")).to_be_visible()
    pages = [shown_ids(carol)]
    expect(carol.get_by_role("link", name="« Newest")).to_have_count(0)
    for _ in range(2):
        follow(carol, "Older »")
        expect(carol.get_by_role("link", name="« Newest")).to_be_visible()
        pages.append(shown_ids(carol))
    expect(carol.get_by_role("link", name="Older »")).to_have_count(0)
    assert [len(ids) for ids in pages] == [50, 50, 20]
    assert [token_id for ids in pages for token_id in ids] == seeded  # newest first, once
    expect(carol.get_by_role("heading", name="Tokens of pager")).to_be_visible()  # kept
    shot(carol, "tokens-paged")
    follow(carol, "« Newest")
    assert shown_ids(carol) == pages[0]
    # Everyone's tokens are paged too, and a made-up page token is a clear 400.
    carol.goto(PAGE)
    assert len(shown_ids(carol)) == 50
    expect(carol.get_by_role("link", name="Older »")).to_be_visible()
    bogus = carol.goto(PAGE + "?page_token=not-a-token")
    assert bogus.status == 400
    expect(carol.get_by_role("heading", name="No such page")).to_be_visible()


def test_creating_too_fast_is_429_next_to_the_form(context_as, server):
    # 20 creations by bob within the last minute (on any worker or server).
    seed_tokens(server, "bob", 20, int(time.time()), revoked_at=int(time.time()))
    page = context_as(BOB).new_page()
    page.goto(PAGE)
    expect(page.get_by_role("link", name="Older »")).to_have_count(0)  # one page
    page.get_by_label("Name").fill("one-too-many")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Create token").click()
    assert posted.value.status == 429
    assert 1 <= int(posted.value.headers["retry-after"]) <= 60
    expect(page.locator("#name-error")).to_contain_text("created 20 tokens within the last minute")
    expect(page.get_by_label("Name")).to_have_value("one-too-many")
    assert "one-too-many" not in {t["name"] for t in api_tokens(server, user=BOB)}


# -- sign-in sessions on the page, the REST API, the client and the CLI -----------------
# Sessions are made on the server's database as the sign-in page makes them; requests
# authenticate with Basic (docs/tokens.md#sessions).

SESSIONS_API = "/api/2.0/mlflow/ldap-auth/sessions"
SESSION_FIELDS = {"id", "user", "created", "last_seen", "source"}
DAVE = {"username": "dave", "password": "dave-password"}
JSMITH = {"username": "jsmith", "password": "jsmith-password"}


@pytest.fixture(scope="module")
def sessions_db(server):
    """The server's session table: make sessions, read them back (``SessionStore``)."""
    import sqlalchemy as sa

    from mlflow_ldap_auth.sessions.store import SessionStore

    engine = sa.create_engine(f"sqlite:///{server.config_path.parent / 'auth.db'}")
    yield SessionStore(engine)
    engine.dispose()


def sign_in(store, owner: str, source: str = "192.0.2.10", ago: int = 0):
    """A live session of ``owner`` made ``ago`` seconds ago: (its handle, its secret)."""
    record, secret = store.create(
        owner,
        source=source,
        password_marker=None,
        now=int(time.time()) - ago,
        max_seconds=7 * 86_400,
    )
    return record.id, secret


def ended(store, session_id: str):
    """(reason, by) of an ended session; None while it is live."""
    record = store.by_id(session_id)
    return None if record.ended_at is None else (record.ended_reason, record.ended_by)


def api_sessions(server, as_user=ALICE, **params) -> list[dict]:
    answer = requests.get(server.url + SESSIONS_API, params=params, auth=basic(as_user), timeout=30)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"sessions", "next_page_token"}
    return answer.json()["sessions"]


def session_row(page, session_id):
    return page.locator(f'table.sessions tr[data-session-id="{session_id}"]')


def assert_no_secret(text: str, store, *secrets_shown) -> None:
    """Neither a session secret nor the hash the database keeps of it is in ``text``."""
    from mlflow_ldap_auth.sessions.secret_format import secret_hash

    assert "mldap_session_" not in text
    for secret in secrets_shown:
        assert secret not in text and secret_hash(secret) not in text


def test_the_page_lists_own_sessions_marks_this_browser_and_ends_them(
    context_as, server, sessions_db
):
    here, here_secret = sign_in(sessions_db, "alice", source="198.51.100.7", ago=120)
    laptop, laptop_secret = sign_in(sessions_db, "alice", source="203.0.113.5", ago=60)
    phone, _ = sign_in(sessions_db, "alice", source="203.0.113.9")
    bobs, _ = sign_in(sessions_db, "bob")
    context = context_as(ALICE)
    # This browser is signed in with ``here`` (the cookie the sign-in page sets).
    context.add_cookies([{"name": "mlflow_ldap_session", "value": here_secret, "url": server.url}])
    page = context.new_page()
    page.goto(PAGE)
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
    expect(session_row(page, laptop)).to_contain_text("203.0.113.5")
    expect(session_row(page, here)).to_contain_text("this browser")
    expect(session_row(page, laptop).get_by_text("this browser")).to_have_count(0)
    expect(session_row(page, bobs)).to_have_count(0)
    shown = page.locator("table.sessions tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.sessionId)"
    )
    assert shown.index(phone) < shown.index(laptop) < shown.index(here)  # newest first
    assert_no_secret(page.content(), sessions_db, here_secret, laptop_secret)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert fits(page), f"sideways scrolling at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})

    session_row(page, laptop).get_by_role("button", name="End").click()
    expect(page.get_by_role("status")).to_contain_text("Ended the session of alice")
    expect(session_row(page, laptop)).to_have_count(0)
    assert ended(sessions_db, laptop) == ("ended_by_user", "alice")
    assert ended(sessions_db, here) is None

    page.get_by_role("link", name="End all other sessions…").click()
    expect(page.get_by_role("heading", name="End all your other sessions?")).to_be_visible()
    expect(page.locator(f'tr[data-session-id="{phone}"]')).to_have_count(1)
    expect(page.locator(f'tr[data-session-id="{here}"]')).to_have_count(0)
    page.get_by_role("button", name="End all other sessions").click()
    expect(page.get_by_role("status")).to_contain_text("session(s) of alice")
    assert ended(sessions_db, phone) == ("ended_by_user", "alice")
    assert ended(sessions_db, here) is None  # this browser stays signed in
    expect(session_row(page, here)).to_have_count(1)
    assert ended(sessions_db, bobs) is None


def test_sessions_end_without_javascript(context_as, server, sessions_db):
    one, _ = sign_in(sessions_db, "dave", source="192.0.2.21")
    two, _ = sign_in(sessions_db, "dave", source="192.0.2.22")
    three, _ = sign_in(sessions_db, "dave", source="192.0.2.23")
    page = context_as(DAVE, java_script_enabled=False).new_page()
    page.goto(PAGE)
    session_row(page, one).get_by_role("button", name="End").click()
    expect(page.get_by_role("status")).to_contain_text("Ended the session of dave")
    assert ended(sessions_db, one) == ("ended_by_user", "dave")
    # No cookie, so no "this browser": "End all" ends every one.
    page.get_by_role("link", name="End all sessions…").click()
    expect(page.get_by_role("heading", name="End all your sessions?")).to_be_visible()
    page.get_by_role("button", name="End all sessions").click()
    expect(page.get_by_role("status")).to_contain_text("Ended 2 session(s) of dave")
    assert ended(sessions_db, two) == ended(sessions_db, three) == ("ended_by_user", "dave")
    expect(page.get_by_text("You are not signed in in any browser.")).to_be_visible()


def test_only_admins_end_other_peoples_sessions_on_the_page(context_as, server, sessions_db):
    alices, alice_secret = sign_in(sessions_db, "alice", source="192.0.2.31")
    bob = context_as(BOB).new_page()
    bob.goto(PAGE + "?user=alice")  # a non-admin's filter is ignored
    expect(session_row(bob, alices)).to_have_count(0)
    bob_session = requests.Session()
    bob_session.auth = basic(BOB)
    csrf = csrf_from(bob_session.get(server.url + PAGE, timeout=30).text)
    forged = bob_session.post(
        server.url + f"{PAGE}sessions/{alices}/end", data={"csrf_token": csrf}, timeout=30
    )
    assert forged.status_code == 404
    unknown = bob_session.post(
        server.url + f"{PAGE}sessions/{'0' * 32}/end", data={"csrf_token": csrf}, timeout=30
    )
    assert unknown.status_code == 404 and "No such session" in forged.text
    everyone = bob_session.post(
        server.url + f"{PAGE}sessions/end-all?user=alice", data={"csrf_token": csrf}, timeout=30
    )
    assert everyone.status_code == 403
    assert ended(sessions_db, alices) is None
    # Without the CSRF token nothing ends, even for the owner.
    no_csrf = requests.post(
        server.url + f"{PAGE}sessions/{alices}/end", auth=basic(ALICE), timeout=30
    )
    assert no_csrf.status_code == 400
    assert ended(sessions_db, alices) is None

    carol = context_as(CAROL).new_page()
    carol.goto(PAGE)
    expect(carol.get_by_role("heading", name="Everyone's sessions")).to_be_visible()
    expect(session_row(carol, alices).locator("td.session-owner")).to_have_text("alice")
    carol.goto(PAGE + "?user=alice")
    expect(carol.get_by_role("heading", name="Sessions of alice")).to_be_visible()
    session_row(carol, alices).get_by_role("button", name="End").click()
    expect(carol.get_by_role("status")).to_contain_text("Ended the session of alice")
    expect(carol.get_by_role("heading", name="Sessions of alice")).to_be_visible()  # kept
    assert ended(sessions_db, alices) == ("ended_by_admin", "carol")
    assert_no_secret(carol.content(), sessions_db, alice_secret)


def test_an_admin_ends_all_of_someones_sessions_on_the_page(context_as, server, sessions_db):
    made = [sign_in(sessions_db, "jsmith", source=f"192.0.2.4{i}")[0] for i in range(3)]
    carol = context_as(CAROL).new_page()
    carol.goto(PAGE + "?user=jsmith")
    carol.get_by_role("link", name="End all of jsmith's sessions…").click()
    expect(carol.get_by_role("heading", name="End all sessions of jsmith?")).to_be_visible()
    for width in (1280, 390):
        carol.set_viewport_size({"width": width, "height": 900})
        assert fits(carol), f"sideways scrolling at {width} px"
    carol.get_by_role("button", name="End all sessions").click()
    expect(carol.get_by_role("status")).to_contain_text("Ended 3 session(s) of jsmith")
    expect(carol.get_by_text("jsmith is not signed in anywhere.")).to_be_visible()
    assert {ended(sessions_db, s) for s in made} == {("ended_by_admin", "carol")}


# Last: tests without the browser (one between browser tests restarts Chromium).
def test_the_session_api_lists_own_and_admins_name_anyone(server, sessions_db):
    mine, my_secret = sign_in(sessions_db, "alice", source="192.0.2.51")
    bobs, bob_secret = sign_in(sessions_db, "bob", source="192.0.2.52")
    answer = requests.get(server.url + SESSIONS_API, auth=basic(ALICE), timeout=30)
    assert answer.headers["cache-control"] == "no-store"
    own = {s["id"]: s for s in answer.json()["sessions"]}
    assert mine in own and bobs not in own
    assert set(own[mine]) == SESSION_FIELDS
    assert own[mine]["user"] == "alice" and own[mine]["source"] == "192.0.2.51"
    assert_no_secret(answer.text, sessions_db, my_secret, bob_secret)
    for params in ({"user": "alice"}, {"all": "true"}):
        refused = requests.get(server.url + SESSIONS_API, params=params, auth=basic(BOB))
        assert refused.status_code == 403, params
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert requests.get(server.url + SESSIONS_API + "?user=ALICE", auth=basic(ALICE)).ok
    for spelled in ("alice", "ALICE", " Alice"):
        assert mine in {s["id"] for s in api_sessions(server, CAROL, user=spelled)}
    everyone = api_sessions(server, CAROL, all="true")
    assert {mine, bobs} <= {s["id"] for s in everyone}
    assert_no_secret(str(everyone), sessions_db, my_secret, bob_secret)
    # Ended sessions are not listed; the idle and the expired neither.
    idle, _ = sign_in(sessions_db, "alice", ago=8 * 3600 + 60)  # session_idle_seconds: 8 h
    assert idle not in {s["id"] for s in api_sessions(server)}


def test_the_session_api_ends_one_or_all(server, sessions_db):
    alices, alice_secret = sign_in(sessions_db, "alice")
    bobs, _ = sign_in(sessions_db, "bob")
    url = server.url + SESSIONS_API
    # Someone else's session and one that does not exist look the same to a non-admin.
    others = requests.delete(f"{url}/{alices}", auth=basic(BOB), timeout=30)
    unknown = requests.delete(f"{url}/{'f' * 32}", auth=basic(BOB), timeout=30)
    assert others.status_code == unknown.status_code == 404
    assert others.json()["error_code"] == unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert ended(sessions_db, alices) is None

    before = len(audit_lines(server, event="session_ended", session_id=alices))
    answer = requests.delete(f"{url}/{alices}", auth=basic(ALICE), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["session"]["id"] == alices
    assert set(answer.json()["session"]) == SESSION_FIELDS
    assert_no_secret(answer.text, sessions_db, alice_secret)
    assert ended(sessions_db, alices) == ("ended_by_user", "alice")
    (line,) = wait_for_audit(server, before, event="session_ended", session_id=alices)
    assert line["reason"] == "ended_by_user" and line["by"] == "alice"
    assert alices not in {s["id"] for s in api_sessions(server)}
    again = requests.delete(f"{url}/{alices}", auth=basic(ALICE), timeout=30)
    assert again.status_code == 200  # ended already: answered as it is
    assert len(audit_lines(server, event="session_ended", session_id=alices)) == before + 1

    assert requests.delete(f"{url}/{bobs}", auth=basic(CAROL), timeout=30).status_code == 200
    assert ended(sessions_db, bobs) == ("ended_by_admin", "carol")

    # All of one user's: their own, or anyone's for an admin; "user" is required.
    first, _ = sign_in(sessions_db, "jsmith")
    second, _ = sign_in(sessions_db, "jsmith")
    refused = requests.delete(url, params={"user": "jsmith"}, auth=basic(BOB), timeout=30)
    assert refused.status_code == 403
    missing = requests.delete(url, auth=basic(JSMITH), timeout=30)
    assert missing.status_code == 400 and "'user'" in missing.json()["message"]
    assert ended(sessions_db, first) is ended(sessions_db, second) is None
    answer = requests.delete(url, params={"user": "jsmith"}, auth=basic(JSMITH), timeout=30)
    assert answer.status_code == 200, answer.text
    assert {s["id"] for s in answer.json()["sessions"]} == {first, second}
    assert ended(sessions_db, first) == ("ended_by_user", "jsmith")
    third, _ = sign_in(sessions_db, "jsmith")
    answer = requests.delete(url, params={"user": "JSmith"}, auth=basic(CAROL), timeout=30)
    assert [s["id"] for s in answer.json()["sessions"]] == [third]
    assert ended(sessions_db, third) == ("ended_by_admin", "carol")


def test_session_lists_come_in_pages(server, sessions_db):
    made = {sign_in(sessions_db, "session-pager", ago=60)[0] for _ in range(130)}
    pages, page_token = [], None
    while True:
        params = {"user": "session-pager", "max_results": 50}
        if page_token:
            params["page_token"] = page_token
        answer = requests.get(server.url + SESSIONS_API, params=params, auth=basic(CAROL))
        assert answer.status_code == 200, answer.text
        pages.append([s["id"] for s in answer.json()["sessions"]])
        page_token = answer.json()["next_page_token"]
        if page_token is None:
            break
    assert [len(page) for page in pages] == [50, 50, 30]
    listed = [session_id for page in pages for session_id in page]
    assert len(listed) == len(set(listed)) and set(listed) == made
    for bad in ({"max_results": 0}, {"max_results": 1001}, {"page_token": "bm9wZQ"}):
        answer = requests.get(server.url + SESSIONS_API, params=bad, auth=basic(ALICE))
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # The page shows 50 at a time, with its own "Older sessions" link.
    shown, url = [], server.url + PAGE + "?user=session-pager"
    while url:
        answer = requests.get(url, auth=basic(CAROL), timeout=30)
        assert answer.status_code == 200, answer.text
        shown.append(re.findall(r'<tr class="session[^"]*" data-session-id="(\w+)"', answer.text))
        older = re.search(r'<a class="button secondary" href="([^"]+)">Older sessions', answer.text)
        url = server.url + older.group(1).replace("&amp;", "&") if older else None
    assert [len(ids) for ids in shown] == [50, 50, 30]
    assert [session_id for ids in shown for session_id in ids] == listed
    bogus = requests.get(
        server.url + PAGE + "?sessions_page_token=bm9wZQ", auth=basic(ALICE), timeout=30
    )
    assert bogus.status_code == 400 and "No such page" in bogus.text


def test_the_python_client_lists_and_ends_sessions(server, sessions_db):
    from mlflow.exceptions import MlflowException

    one, _ = sign_in(sessions_db, "dave")
    two, _ = sign_in(sessions_db, "dave")
    with client_as(server, "dave", "dave-password", app=True) as client:
        listed = client.list_sessions()
        assert {one, two} <= {s["id"] for s in listed}
        assert all(set(s) == SESSION_FIELDS for s in listed)
        assert client.end_session(one)["id"] == one
        assert ended(sessions_db, one) == ("ended_by_user", "dave")
        with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
            client.end_session("0" * 32)
        with pytest.raises(MlflowException, match="PERMISSION_DENIED"):
            client.list_sessions(user="alice")
        assert [s["id"] for s in client.end_sessions("dave")] == [two]
        assert client.list_sessions() == []
    made = {sign_in(sessions_db, "client-pager", ago=60)[0] for _ in range(105)}
    with client_as(server, *basic(CAROL), app=True) as client:
        assert {s["id"] for s in client.list_sessions(user="client-pager")} == made  # 2 pages
        assert client.list_sessions_page(user="client-pager", max_results=5)["next_page_token"]


def test_the_cli_lists_and_ends_sessions(server, sessions_db):
    import getpass

    first, first_secret = sign_in(sessions_db, "cli-user", source="192.0.2.61")
    second, _ = sign_in(sessions_db, "cli-user", source="192.0.2.62")
    listed = run_cli(server.config_path, "sessions", "list", "--user", "CLI-User")
    assert listed.returncode == 0, listed.stderr
    assert first in listed.stdout and "192.0.2.61" in listed.stdout
    assert_no_secret(listed.stdout + listed.stderr, sessions_db, first_secret)
    assert first in run_cli(server.config_path, "sessions", "list").stdout  # everyone's

    operator = f"cli:{getpass.getuser()}"
    done = run_cli(server.config_path, "sessions", "end", first)
    assert done.returncode == 0, done.stderr
    assert ended(sessions_db, first) == ("ended_by_admin", operator)
    assert first not in run_cli(server.config_path, "sessions", "list", "--user", "cli-user").stdout
    missing = run_cli(server.config_path, "sessions", "end", "no-such-session")
    assert missing.returncode == 1 and "no session" in missing.stderr
    neither = run_cli(server.config_path, "sessions", "end")
    assert neither.returncode == 2
    everyone = run_cli(server.config_path, "sessions", "end", "--user", "cli-user")
    assert everyone.returncode == 0, everyone.stderr
    assert "ended 1 session(s) of cli-user" in everyone.stdout
    assert ended(sessions_db, second) == ("ended_by_admin", operator)
