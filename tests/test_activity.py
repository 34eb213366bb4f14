"""The activity table (docs/operations.md#activity) on a real slapd and
``mlflow server --app-name ldap-auth``.

Logins (success, bad password, throttled after ``lockout_threshold``, unknown user) and
mapping and token changes reach the table (with the kind of credential each login
and token refusal was, ``method``) and come back by REST, by the Python client
and on ``/ldap-admin/activity`` (headless Chromium, with and without JavaScript, 1280
and 390 px wide), with the filters and pages of the answer; bad values are 400s in
MLflow's format; only admins get in; no password or token secret is ever stored;
retention and ``audit_retention_days = 0`` on a server restarted on one database.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from browser import basic_auth, shot
from mlflow_ldap_auth.db import tables
from servers import (
    ADMIN_PASSWORD,
    CAROL,
    DATA_SCIENCE_DN,
    add_person,
    audit_lines,
    client_as,
    ldap_config,
    start_server,
    wait_for_audit,
    wait_until,
)

ACTIVITY = "/api/2.0/mlflow/ldap-auth/activity"
MAPPINGS = "/api/2.0/mlflow/ldap-auth/group-mappings"
TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
PAGE = "/ldap-admin/activity"
ALICE = ("alice", "alice-password")
FRANK = ("frank", "frank-password")
WRONG = [f"wrong-frank-password-{n}" for n in range(4)]
HTML_NAME = "<b>x</b>"
ADMIN = {"username": CAROL[0], "password": CAROL[1]}
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def directory(own_slapd):
    add_person(own_slapd, *FRANK)
    return own_slapd


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    with start_server(tmp_path_factory, directory, name="activity", lockout_threshold="3") as s:
        yield s


def auth_db(server) -> str:
    return str(server.config_path.parent / "auth.db")


def activity(server, auth=CAROL, **params) -> requests.Response:
    return requests.get(server.url + ACTIVITY, params=params, auth=auth, timeout=30)


def records(server, **params) -> list[dict]:
    response = activity(server, **params)
    assert response.status_code == 200, response.text
    return response.json()["records"]


def every_record(server, **params) -> list[dict]:
    """All pages of one filter, newest first."""
    found, token = [], None
    while True:
        response = activity(server, max_results=500, page_token=token, **params)
        assert response.status_code == 200, response.text
        found += response.json()["records"]
        token = response.json()["next_page_token"]
        if token is None:
            return found


def status(server, auth) -> int:
    return requests.get(server.url + SEARCH, auth=auth, timeout=30).status_code


def wait_for_records(server, count: int, **params) -> list[dict]:
    """A barrier: at least ``count`` records match (the writer batches every 0.5 s)."""
    return wait_until(
        lambda: (found := every_record(server, **params)) and len(found) >= count and found,
        f"fewer than {count} activity records with {params}",
    )


def table_text(server) -> str:
    with sqlite3.connect(auth_db(server)) as db:
        return repr(db.execute("SELECT * FROM ldap_auth_audit").fetchall())


@pytest.fixture(scope="module")
def logins(server):
    """Once per module: a login, three wrong passwords and one over the threshold, an
    unknown user (the tests below and the page tests read them)."""
    assert status(server, ALICE) == 200
    for password in WRONG[:3]:
        assert status(server, ("frank", password)) == 401
    assert status(server, ("frank", WRONG[3])) == 401  # over lockout_threshold = 3
    assert status(server, ("nobody-here", "some-password")) == 401
    wait_for_records(server, 4, user="frank")


@pytest.fixture(scope="module")
def changes(server, logins):
    """Once per module: a mapping created and deleted, a token created, revoked, refused."""
    created = requests.post(
        server.url + MAPPINGS,
        json={"group": DATA_SCIENCE_DN, "permission": "EDIT", "resource_type": "experiment"},
        auth=CAROL,
        timeout=30,
    )
    assert created.status_code == 200, created.text
    mapping = created.json()["group_mapping"]
    deleted = requests.delete(f"{server.url}{MAPPINGS}/{mapping['id']}", auth=CAROL, timeout=30)
    assert deleted.status_code == 200, deleted.text
    token = requests.post(
        server.url + TOKENS, json={"name": "nightly", "expires_in_days": 7}, auth=ALICE, timeout=30
    )
    assert token.status_code == 200, token.text
    token_id, secret = token.json()["token"]["id"], token.json()["secret"]
    revoked = requests.delete(f"{server.url}{TOKENS}/{token_id}", auth=ALICE, timeout=30)
    assert revoked.status_code == 200, revoked.text
    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(server.url + SEARCH, headers=bearer, timeout=30).status_code == 401
    wait_for_records(server, 1, event="token_refused")
    return {"mapping": mapping, "token_id": token_id, "secret": secret}


def test_logins_are_recorded_with_result_reason_and_source(server, logins):
    frank = wait_for_records(server, 4, user="frank")
    assert [r["reason"] for r in frank] == [
        "throttled",
        "bad_password",
        "bad_password",
        "bad_password",
    ]
    assert {(r["event"], r["result"], r["source"]) for r in frank} == {
        ("login", "refused", "127.0.0.1")
    }
    [alice] = wait_for_records(server, 1, user="ALICE", result="success", event="login")
    assert (alice["user"], alice["reason"], alice["event"]) == ("alice", "directory_bind", "login")
    assert alice["details"]["dn"].startswith("uid=alice,") and alice["details"]["groups"] >= 1
    [nobody] = wait_for_records(server, 1, user="nobody-here")
    assert (nobody["result"], nobody["reason"]) == ("refused", "unknown_user")
    # The same decisions as the JSON audit lines, which stay as they were.
    lines = audit_lines(server, user="frank")
    assert [line["reason"] for line in reversed(lines)] == [r["reason"] for r in frank]
    for line, record in zip(reversed(lines), frank, strict=True):
        assert record["ts"].endswith("Z") and record["details"]["worker"] == line["worker"]
    # A wrong password is nowhere: not in the table, not in the answers.
    text = table_text(server) + activity(server, max_results=500).text
    assert not any(password in text for password in WRONG)
    assert "some-password" not in text and "alice-password" not in text


def test_mapping_and_token_changes_are_recorded(server, changes):
    mapping, token_id, secret = changes["mapping"], changes["token_id"], changes["secret"]
    [made] = wait_for_records(server, 1, event="mapping_created")
    [gone] = wait_for_records(server, 1, event="mapping_deleted")
    assert (made["user"], made["result"], made["reason"]) == ("carol", "success", "api")
    assert made["details"]["after"]["id"] == mapping["id"] and made["details"]["before"] is None
    assert made["details"]["after"]["group"].lower() == DATA_SCIENCE_DN.lower()
    assert gone["details"]["before"]["id"] == mapping["id"] and gone["details"]["after"] is None
    [new] = wait_for_records(server, 1, event="token_created")
    [old] = wait_for_records(server, 1, event="token_revoked")
    assert (new["user"], new["reason"], new["details"]["token_id"]) == (
        "alice",
        "created",
        token_id,
    )
    assert (old["user"], old["reason"], old["source"]) == ("alice", "revoked_by_owner", "127.0.0.1")
    assert new["details"]["name"] == "nightly"
    # The refused token shows up too, and the secret is nowhere in the table.
    [refused] = wait_for_records(server, 1, event="token_refused")
    assert (refused["user"], refused["reason"]) == ("alice", "revoked")
    assert secret not in table_text(server)
    assert secret[-20:] not in table_text(server)

    with client_as(server, *CAROL, app=True) as client:
        answer = client.activity(user="alice", event="token_created")
        assert answer == {"records": [new], "next_page_token": None}
        page = client.activity(max_results=2)
        assert len(page["records"]) == 2 and page["next_page_token"]
        after = client.activity(max_results=2, page_token=page["next_page_token"])
        assert after["records"] == records(server, max_results=4)[2:]


def test_audit_lines_say_which_kind_of_credential(server, logins, changes):
    """``method`` (docs/reference/audit.md#logins): in the JSON lines, the table, the page."""
    [alice] = audit_lines(server, event="login", user="alice", result="success")
    assert (alice["reason"], alice["method"]) == ("directory_bind", "password")
    frank = audit_lines(server, event="login", user="frank")
    assert [(line["reason"], line["method"]) for line in frank] == [
        ("bad_password", "password"),
        ("bad_password", "password"),
        ("bad_password", "password"),
        ("throttled", "password"),
    ]
    [nobody] = audit_lines(server, event="login", user="nobody-here")
    assert nobody["method"] == "password"
    [refused] = audit_lines(server, event="token_refused")
    assert (refused["reason"], refused["method"]) == ("revoked", "token")
    # The break-glass admin logs in with a password too.
    before = len(audit_lines(server, event="login", reason="local_admin"))
    assert status(server, ("admin", ADMIN_PASSWORD)) == 200
    [admin] = wait_for_audit(server, before, event="login", reason="local_admin")
    assert (admin["user"], admin["method"]) == ("admin", "password")
    # A header no kind of credential can be read from: no method.
    before = len(audit_lines(server, event="login", reason="malformed_header"))
    unreadable = {"Authorization": "Basic !!!"}
    assert requests.get(server.url + SEARCH, headers=unreadable, timeout=30).status_code == 401
    [broken] = wait_for_audit(server, before, event="login", reason="malformed_header")
    assert (broken["user"], broken["method"]) == (None, None) and "method" in broken
    # The activity table keeps it with the other details, and the page shows it.
    [token_record] = wait_for_records(server, 1, event="token_refused")
    assert token_record["details"]["method"] == "token"
    assert {r["details"]["method"] for r in wait_for_records(server, 4, user="frank")} == {
        "password"
    }
    for params, shown in (({"user": "frank"}, "password"), ({"event": "token_refused"}, "token")):
        page = requests.get(server.url + PAGE, params=params, auth=CAROL, timeout=30)
        assert page.status_code == 200
        assert f"<dt>method</dt><dd>{shown}</dd>" in page.text


def test_bad_values_are_400s_and_only_admins_get_in(server):
    for params, needle in (
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"page_token": "bm90LWEtdG9rZW4"}, "page_token"),
        ({"page_token": "***"}, "page_token"),
        ({"max_results": "0"}, "max_results"),
        ({"max_results": "501"}, "max_results"),
        ({"username": "alice"}, "unknown parameter"),
    ):
        response = activity(server, **params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert needle in response.json()["message"]
    with client_as(server, *CAROL, app=True) as client:
        from mlflow.exceptions import MlflowException

        with pytest.raises(MlflowException, match="since"):
            client.activity(since="not a time")
    refused = activity(server, auth=ALICE)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    anonymous = requests.get(server.url + ACTIVITY, timeout=30)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert anonymous.headers["Cache-Control"] == "no-store"
    page = requests.get(server.url + PAGE, auth=ALICE, timeout=30)
    assert page.status_code == 403 and "Admins only" in page.text
    assert requests.get(server.url + PAGE, timeout=30).status_code == 401


# -- the page ------------------------------------------------------------------


@pytest.fixture
def context_as(browser, server):
    contexts = []

    def make(**options):
        context = browser.new_context(
            extra_http_headers=basic_auth(ADMIN), base_url=server.url, **options
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def rows(page):
    return page.locator("tr.activity-row")


def cells(page, index: int) -> dict[str, str]:
    row = rows(page).nth(index)
    names = ("time", "event", "user", "result", "reason", "source", "details")
    return dict(
        zip(names, (text.strip() for text in row.locator("td").all_inner_texts()), strict=True)
    )


def assert_tidy(page, width: int):
    """Nothing wider than the window (the table scrolls in its own box), no CSP errors."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("document.styleSheets.length") == 1
    box = page.locator("form.activity-filter").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width


def matches_rest(page, server, **params):
    """The rows on the page are the REST answer for the same filter, in order."""
    answer = records(server, **params)
    expect(rows(page)).to_have_count(len(answer))
    if answer:
        expect(page.locator(".activity-count")).to_have_text(str(len(answer)))
    for index in (0, len(answer) - 1) if answer else ():
        shown, record = cells(page, index), answer[index]
        assert shown["result"] == record["result"] and shown["reason"] == record["reason"]
        assert shown["user"] == (record["user"] or "—")
        assert shown["event"] == record["event"].replace("_", " ")
        assert shown["time"].replace("\n", " ").split() == [record["ts"][:10], record["ts"][11:19]]
        if record["source"]:
            assert shown["source"] == f"from {record['source']}"
    return answer


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_page_shows_the_records_with_filters(server, changes, context_as, javascript):
    before = len(every_record(server, user=HTML_NAME))
    assert status(server, (HTML_NAME, "whatever-password")) == 401
    wait_for_records(server, before + 1, user=HTML_NAME)  # written: nothing is on its way
    errors = []
    context = context_as(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    # A 400 page is logged as "Failed to load resource"; anything else (CSP) is a fault.
    page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    response = page.goto(PAGE)
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    expect(page.get_by_role("heading", name="Activity", exact=True)).to_be_visible()
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Activity")
    matches_rest(page, server)
    # The name with HTML in it is text, not markup.
    expect(page.get_by_role("link", name=HTML_NAME, exact=True).first).to_be_visible()
    assert page.locator("td.activity-user b").count() == 0
    assert page.locator("script").count() == 0
    # A row reads as what happened: refused · throttled · time · from where.
    page.goto(PAGE + "?user=frank&reason=throttled")
    [record] = matches_rest(page, server, user="frank", reason="throttled")
    row = rows(page).first
    expect(row.locator(".activity-result")).to_have_text("refused")
    expect(row.locator(".activity-reason")).to_have_text("throttled")
    expect(row.locator(".activity-source")).to_have_text("from 127.0.0.1")
    expect(row.locator("time")).to_have_attribute("datetime", record["ts"])
    # The form: filters by user, result and event; the values stay in the form.
    page.goto(PAGE)
    page.get_by_label("User").fill("FRANK")
    page.get_by_label("Result").select_option("refused")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(
        f"{server.url}{PAGE}?user=FRANK&event=&result=refused&reason=&since=&until="
    )
    expect(page.get_by_label("User")).to_have_value("FRANK")
    matches_rest(page, server, user="frank", result="refused")
    page.get_by_label("Event").select_option("token_created")
    page.get_by_label("User").fill("")
    page.get_by_label("Result").select_option("")
    page.get_by_role("button", name="Show").click()
    [created] = matches_rest(page, server, event="token_created")
    expect(rows(page).first.locator(".activity-details")).to_contain_text(
        created["details"]["token_id"]
    )
    # The user link narrows to that user, keeping the other filters.
    rows(page).first.get_by_role("link", name="alice").click()
    matches_rest(page, server, event="token_created", user="alice")
    page.get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(server.url + PAGE)
    # Bad values are said next to the form, as a 400.
    response = page.goto(PAGE + "?since=yesterday")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("since must be an ISO 8601")
    expect(page.get_by_label("Since (UTC)")).to_have_value("yesterday")
    response = page.goto(PAGE + "?page_token=nonsense")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("page_token")
    # Nothing to show.
    page.goto(PAGE + "?user=nobody-at-all")
    expect(page.get_by_role("heading", name="Nothing matches these filters")).to_be_visible()
    expect(rows(page)).to_have_count(0)
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def test_the_page_is_tidy_at_1280_and_390_pixels(server, changes, context_as):
    for width, name in ((1280, "activity"), (390, "activity-narrow")):
        context = context_as(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(PAGE + "?since=2000-01-01")  # every record so far, less than a page
        answer = matches_rest(page, server, since="2000-01-01")
        assert 10 <= len(answer) < 50
        assert_tidy(page, width)
        shot(page, name)
        if width == 390:
            # Each record is a block that needs no sideways scrolling: when, what, who;
            # then result, reason, where; then the details.
            wrap = page.locator(".activity-table-wrap")
            assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth")
            row = rows(page).filter(has_text="throttled").first
            time_box, result, reason, source = (
                row.locator(selector).bounding_box()
                for selector in (
                    "time",
                    ".activity-result",
                    "td.activity-reason",
                    "td.activity-source",
                )
            )
            assert time_box["y"] + time_box["height"] <= result["y"] + 1
            assert abs(result["y"] - reason["y"]) < 8 and abs(reason["y"] - source["y"]) < 8
            assert result["x"] < reason["x"] < source["x"]
            assert source["x"] + source["width"] <= width
            # The filter fields sit in two columns.
            user, event = (page.get_by_label(n).bounding_box() for n in ("User", "Event"))
            assert user["y"] == event["y"] and user["x"] + user["width"] <= event["x"]


def test_filters_and_pages_through_many_records(server, context_as):
    started = records(server, max_results=1)[0]["ts"]
    names = [f"spray-{n:03d}" for n in range(120)]
    for name in names:
        assert status(server, (name, "spray-password")) == 401
    # The barrier counts the spray's own records: ``since`` also keeps the newest record
    # before it (``started`` itself, an unknown user of an earlier test), and counting
    # that one would stop the wait while the writer's last batch is still queued.
    sprayed = wait_until(
        lambda: (
            (found := every_record(server, reason="unknown_user", since=started))
            and {r["user"] for r in found} >= set(names)
            and found
        ),
        "the 120 sprayed names are not all in the activity table",
    )
    assert {r["user"] for r in sprayed} >= set(names)
    # Through the pages of the REST answer: every record once, newest first.
    seen, token, pages = [], None, 0
    while True:
        response = activity(server, reason="unknown_user", max_results=25, page_token=token)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["records"]) <= 25
        seen += page["records"]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    users = [r["user"] for r in seen if r["user"].startswith("spray-")]
    assert users == list(reversed(names)) and len(seen) == len({repr(r) for r in seen})
    assert pages == -(-len(seen) // 25)
    assert [r["ts"] for r in seen] == sorted((r["ts"] for r in seen), reverse=True)
    assert len(seen) == len(audit_lines(server, reason="unknown_user"))
    assert len(records(server)) == 50  # the default page size
    # The same pages in the browser, without JavaScript: Older, Older, ..., Newest.
    page = context_as(java_script_enabled=False).new_page()
    page.goto(PAGE + "?reason=unknown_user")
    first = matches_rest(page, server, reason="unknown_user")
    expect(page.get_by_role("link", name="« Newest")).to_have_count(0)
    page.get_by_role("link", name="Older »").click()
    assert "reason=unknown_user" in page.url and "page_token=" in page.url
    token = activity(server, reason="unknown_user").json()["next_page_token"]
    matches_rest(page, server, reason="unknown_user", page_token=token)
    page.get_by_role("link", name="« Newest").click()
    assert page.url == f"{server.url}{PAGE}?reason=unknown_user"
    expect(rows(page)).to_have_count(len(first))


def test_old_records_are_purged_and_zero_days_means_no_table(directory, tmp_path):
    home = tmp_path / "retention"
    home.mkdir()
    config = ldap_config(home, directory.ldap_uri, audit_retention_days="0")
    with start_server(tmp_path, config=config, name="off") as off:
        assert status(off, ALICE) == 200
        response = activity(off)
        assert response.status_code == 404
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert "audit_retention_days = 0" in response.json()["message"]
        page = requests.get(off.url + PAGE, auth=CAROL, timeout=30)
        assert page.status_code == 200 and "The activity table is off" in page.text
        assert audit_lines(off, user="alice")  # the JSON lines stay
    engine = tables.create_engine(f"sqlite:///{home}/auth.db")
    with engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(tables.audit)).scalar() == 0
        )
    now_ms = int(time.time() * 1000)
    old = [now_ms - 8 * DAY_MS - n for n in range(30)]
    kept = [now_ms - 6 * DAY_MS - n for n in range(5)]
    with engine.begin() as connection:
        connection.execute(
            sa.insert(tables.audit),
            [
                {
                    "ts_ms": ts,
                    "event": "login",
                    "username": f"old-{n}",
                    "source": "10.9.9.9",
                    "result": "refused",
                    "reason": "bad_password",
                    "details": "{}",
                }
                for n, ts in enumerate(old + kept)
            ],
        )
    engine.dispose()
    config.write_text(
        config.read_text().replace("audit_retention_days = 0", "audit_retention_days = 7")
    )
    with start_server(tmp_path, config=config, name="on") as on:
        remaining = wait_until(
            lambda: (
                (found := every_record(on, since="2000-01-01", user=None))
                and len(found) <= 10
                and found
            ),
            "records older than 7 days were not purged",
        )
        assert {r["user"] for r in remaining if r["user"].startswith("old-")} == {
            f"old-{n}" for n in range(30, 35)
        }
        assert status(on, ALICE) == 200
        wait_for_records(on, 1, user="alice")


def test_the_table_on_postgresql(postgres):
    """Batches, retention, the cap, filters and pages on PostgreSQL (several servers)."""
    from mlflow_ldap_auth.activity.recorder import ActivityRecorder
    from mlflow_ldap_auth.activity.store import ActivityStore

    engine = tables.create_engine(postgres.create_database("activity"))
    try:
        tables.migrate(engine)
        now = time.time()
        recorder = ActivityRecorder(engine, 7, max_rows=10_000, batch_size=100, delete_chunk=64)
        for n in range(400):
            recorder.record(
                {
                    "ts": now - 8 * 86_400 if n < 50 else now - 400 + n,
                    "event": "login",
                    "user": f"User{n % 5}",
                    "source": "10.1.2.3",
                    "result": "refused" if n % 2 else "success",
                    "reason": "bad_password" if n % 2 else "directory_bind",
                    "worker": 1,
                }
            )
        recorder.flush()
        assert (recorder.written, recorder.batches) == (400, 4)
        assert recorder.purge() == 50  # older than 7 days
        recorder.max_rows = 300
        assert recorder.enforce_cap() == 50
        store = ActivityStore(engine)
        seen, token = [], None
        while True:
            answer = store.search(user="user3", result="refused", max_results=7, page_token=token)
            seen += answer["records"]
            token = answer["next_page_token"]
            if token is None:
                break
        # The cap took the 50 oldest refusals (n = 51, 53, ..., 149; User3's: 53 ... 143),
        # not the oldest rows: every success is still there.
        assert len(seen) == 25 and {r["user"] for r in seen} == {"User3"}
        assert len(store.search(user="user3", result="success", max_results=500)["records"]) == 35
        assert [r["ts"] for r in seen] == sorted((r["ts"] for r in seen), reverse=True)
        with engine.connect() as connection:
            count = sa.select(sa.func.count()).select_from(tables.audit)
            assert connection.execute(count).scalar() == 300
    finally:
        engine.dispose()


def test_one_users_token_churn_never_pushes_the_admins_changes_out(directory, tmp_path):
    """The cap (``activity.recorder``), run on a real server's table at a small size: the
    records an admin's changes left stay, one user's create/revoke loop goes first."""
    from mlflow_ldap_auth.activity.recorder import ActivityRecorder

    with start_server(tmp_path, directory, name="churn") as server:
        mapping = requests.post(
            server.url + MAPPINGS,
            json={"group": DATA_SCIENCE_DN, "permission": "READ", "resource_type": "experiment"},
            auth=CAROL,
            timeout=30,
        )
        assert mapping.status_code == 200, mapping.text
        made = requests.post(
            server.url + TOKENS, json={"name": "ci", "expires_in_days": 7}, auth=ALICE, timeout=30
        ).json()["token"]
        by_admin = requests.delete(f"{server.url}{TOKENS}/{made['id']}", auth=CAROL, timeout=30)
        assert by_admin.status_code == 200, by_admin.text
        provisioned = requests.get(
            server.url + "/api/2.0/mlflow/users/get", params={"username": "dave"}, auth=CAROL
        )
        assert provisioned.status_code == 200, provisioned.text
        changes = {
            ("mapping_created", "api"),
            ("token_revoked", "revoked_by_admin"),
            ("user_provisioned", "admin_request"),
        }
        # alice: create and revoke in a loop, until (and past) the creation rate.
        answers = []
        for n in range(30):
            answer = requests.post(
                server.url + TOKENS, json={"name": f"churn-{n}", "expires_in_days": 1}, auth=ALICE
            )
            answers.append(answer.status_code)
            if answer.status_code == 200:
                token_id = answer.json()["token"]["id"]
                requests.delete(f"{server.url}{TOKENS}/{token_id}", auth=ALICE, timeout=30)
        created = answers.count(200)
        assert created + answers.count(429) == 30
        wait_for_records(server, 30, user="alice", event="token_created")
        wait_for_records(server, created + 1, user="alice", event="token_revoked")
        engine = tables.create_engine(f"sqlite:///{auth_db(server)}")
        try:
            ActivityRecorder(engine, 30, max_rows=10, delete_chunk=4).enforce_cap()
        finally:
            engine.dispose()
        kept = every_record(server)
        assert len(kept) == 10
        assert changes <= {(r["event"], r["reason"]) for r in kept}
        assert all(r["result"] == "success" for r in kept)  # refusals went first
        routine = [r for r in kept if (r["event"], r["reason"]) not in changes]
        assert {r["user"] for r in routine} == {"alice"}  # the newest of the churn
