"""The bar in MLflow's own pages (docs/clients.md#inside-mlflows-pages), in a real Chromium.

Against real slapd and ``mlflow server``: ``GET /api/2.0/mlflow/ldap-auth/me`` answers
who is signed in (``no-store``, no credential; unauthenticated: MLflow's own 401);
MLflow's page carries one script tag and keeps answering conditionally; on MLflow's
home, an experiment, a run, a registered model and the traces of an experiment the bar
shows the user, *Access tokens* and, for admins only, *LDAP admin*; its links lead to
those pages; it is reached by the keyboard, covers nothing of MLflow's page at 1280
and 390 px, and MLflow's page still shows its own content; when the server cannot say
who is signed in, it shows nothing; *Sign out* is a form that POSTs the CSRF token, and
only to this server. The bar under ``--static-prefix``:
test_static_prefix.py.
"""

import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from browser import ANSWER_SECONDS, basic_auth, patient
from servers import CAROL, client_as, start_server

ALICE = ("alice", "alice-password")
ME = "/api/2.0/mlflow/ldap-auth/me"
SCRIPT = "/ldap-admin/static/mlflow-bar.js"
TOKENS_API = "/api/2.0/mlflow/ldap-auth/tokens"
BAR = "#ldap-auth-bar"
#: What an error of the bar's script or of its request names.
OURS = re.compile(r"mlflow-bar|ldap-auth/me")


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(tmp_path_factory, slapd, name="mlflow-bar") as running:
        yield running


@pytest.fixture(scope="module")
def world(server):
    """An experiment with a run, a registered model (MLflow's client) and a trace."""
    with client_as(server, *CAROL) as client:
        experiment_id = client.create_experiment("bar-experiment")
        run = client.create_run(experiment_id, run_name="bar-run")
        client.log_metric(run.info.run_id, "loss", 0.25)
        client.set_terminated(run.info.run_id)
        client.create_registered_model("bar-model")
        trace_id = f"tr-{uuid.uuid4().hex}"
        location = {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": experiment_id},
        }
        trace_info = {
            "trace_id": trace_id,
            "trace_location": location,
            "request_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),  # last 7 days
            "state": "OK",
            "request_preview": "bar-request",
            "tags": {"mlflow.traceName": "bar-trace"},
        }
        started = requests.post(
            server.url + "/api/3.0/mlflow/traces",
            json={"trace": {"trace_info": trace_info}},
            auth=CAROL,
            timeout=ANSWER_SECONDS,
        )
        assert started.status_code == 200, started.text
    return {
        "experiment": experiment_id,
        "run": run.info.run_id,
        "trace": trace_id,
    }


def get(server, path, auth=ALICE, **kwargs):
    return requests.get(server.url + path, auth=auth, timeout=ANSWER_SECONDS, **kwargs)


def test_me_answers_who_is_signed_in_and_where_to_go(server):
    answer = get(server, ME)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json() == {
        "user": "alice",
        "is_admin": False,
        "links": {"tokens": "/ldap-admin/tokens/", "admin": None},
        "sign_out": None,  # HTTP Basic cannot be signed out of
    }
    assert "alice-password" not in answer.text
    admin = get(server, ME, auth=CAROL).json()
    assert admin["is_admin"] is True
    assert admin["links"]["admin"] == "/ldap-admin/"


def test_me_with_a_token_names_its_owner_and_never_the_secret(server):
    created = requests.post(
        server.url + TOKENS_API,
        json={"name": "bar", "expires_in_days": 1},
        auth=ALICE,
        timeout=ANSWER_SECONDS,
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    answer = requests.get(
        server.url + ME, headers={"Authorization": f"Bearer {secret}"}, timeout=ANSWER_SECONDS
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"] == "alice"
    assert secret not in answer.text
    assert created.json()["token"]["id"] not in answer.text


def test_me_unauthenticated_is_mlflows_own_401(server):
    ours = get(server, ME, auth=None)
    mlflows = get(server, "/api/2.0/mlflow/experiments/search?max_results=1", auth=None)
    assert ours.status_code == mlflows.status_code == 401
    assert ours.headers["WWW-Authenticate"] == mlflows.headers["WWW-Authenticate"]
    assert ours.json() == mlflows.json()
    assert get(server, ME, auth=("alice", "wrong")).status_code == 401


def test_me_refuses_a_foreign_origin(server):
    answer = get(server, ME, headers={"Origin": "http://localhost:9999"})
    assert answer.status_code == 403


def test_mlflows_page_carries_one_script_tag_and_still_answers_304(server):
    page = get(server, "/")
    assert page.status_code == 200
    tags = re.findall(rb"<script[^>]*mlflow-bar[^>]*>", page.content)
    assert tags == [f'<script src="{SCRIPT}" data-me="{ME}" defer>'.encode()]
    assert page.headers["Content-Length"] == str(len(page.content))
    # MLflow answers HEAD to admins only (no validator for it); its own file answer.
    head = requests.head(server.url + "/", auth=CAROL, timeout=ANSWER_SECONDS)
    assert head.headers["ETag"] != page.headers["ETag"]  # HEAD: MLflow's own file answer
    again = get(server, "/", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    script = get(server, SCRIPT, auth=None)
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]


def test_mlflows_other_answers_are_untouched(server):
    assert b"mlflow-bar" not in get(server, "/static-files/manifest.json").content
    assert get(server, "/health", auth=None).text == "OK"


#: What the bar's script and its request are blamed for, collected per page.
def _collect_bar_errors(page) -> None:
    page.bar_errors = []
    page.on(
        "pageerror",
        lambda error: OURS.search(str(error.stack)) and page.bar_errors.append(error.stack),
    )
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and OURS.search(message.location.get("url", "") + " " + message.text)
            and page.bar_errors.append(message.text)
        ),
    )


@pytest.fixture(scope="module")
def open_as(browser, server):
    """``open_as(user, path, width, height)``: MLflow's page at ``path`` (``/`` or a
    ``/#/...`` route of its single-page app) signed in as ``user``, with the errors the
    bar's script and its request caused, collected.

    One page per user and window size for the module: loading MLflow's app costs the
    browser seconds of CPU, so a page already showing it moves to the next route the
    way MLflow's own links do (its hash), and the document, with the bar the server put
    into it, stays. ``fresh=True``: a page loaded from the server for this test alone.
    """
    contexts: dict[tuple, object] = {}
    pages: dict[tuple, object] = {}

    def make(user, path, width=1280, height=800, fresh=False):
        key = (user, width, height)
        if key not in contexts:
            contexts[key] = patient(
                browser.new_context(
                    extra_http_headers=basic_auth({"username": user[0], "password": user[1]}),
                    base_url=server.url,
                    viewport={"width": width, "height": height},
                )
            )
        page = None if fresh else pages.get(key)
        if page is not None and page.evaluate("location.pathname") == "/":
            page.bar_errors.clear()
            route = path.split("#", 1)[1] if "#" in path else "/"
            page.evaluate("(route) => { location.hash = route; }", route)
            return page
        page = contexts[key].new_page()
        _collect_bar_errors(page)
        page.goto(path)
        if not fresh:
            pages[key] = page
        return page

    yield make
    for context in contexts.values():
        context.close()


def expect_bar(page, user: str, admin: bool) -> None:
    """The bar's content (found by text: a dialog MLflow opens hides the rest of the
    page from the accessibility tree, so not by role)."""
    bar = page.locator(BAR)
    expect(bar).to_contain_text(user)
    expect(bar.locator("a", has_text="Access tokens")).to_have_attribute(
        "href", "/ldap-admin/tokens/"
    )
    expect(bar.locator("a", has_text="LDAP admin")).to_have_count(1 if admin else 0)
    expect(bar.locator("a", has_text="Sign out")).to_have_count(0)


#: MLflow's pages, and something MLflow itself shows on each.
PAGES = {
    "home": ("/", "Welcome to MLflow"),
    "experiment": ("/#/experiments/{experiment}", "bar-experiment"),
    "run": ("/#/experiments/{experiment}/runs/{run}", "bar-run"),
    "model": ("/#/models/bar-model", "bar-model"),
    "traces": ("/#/experiments/{experiment}/traces", "bar-request"),
}


@pytest.mark.parametrize("name", PAGES)
def test_the_bar_on_mlflows_pages_for_an_admin(open_as, world, name):
    path, mlflows_content = PAGES[name]
    page = open_as(CAROL, path.format(**world))
    expect(page.get_by_text(mlflows_content).first).to_be_visible()
    expect_bar(page, "carol", admin=True)
    assert page.bar_errors == []


def test_the_bar_for_a_non_admin_and_its_links(open_as, world):
    page = open_as(ALICE, "/#/experiments/{experiment}".format(**world))
    expect(page.get_by_text("bar-experiment").first).to_be_visible()
    expect_bar(page, "alice", admin=False)
    assert page.bar_errors == []
    # Clicked on the home page: a guidance popover MLflow may open on an experiment makes
    # the rest of the page inert to the pointer (the bar too, as MLflow's own controls).
    page = open_as(ALICE, "/")
    expect(page.get_by_text("Welcome to MLflow")).to_be_visible()
    page.locator(BAR).get_by_role("link", name="Access tokens").click()
    expect(page.get_by_role("heading", name="Your tokens")).to_be_visible()


def test_the_admin_link_leads_to_the_admin_page(open_as):
    page = open_as(CAROL, "/")
    page.locator(BAR).get_by_role("link", name="LDAP admin").click()
    expect(page).to_have_url(re.compile(r"/ldap-admin/$"))
    expect(page.get_by_role("link", name="Mappings")).to_be_visible()


def test_the_bar_is_reached_by_the_keyboard_first(open_as):
    page = open_as(ALICE, "/", fresh=True)  # nothing focused yet
    expect(page.locator(BAR)).to_be_visible()
    page.locator("body").press("Tab")
    expect(page.locator(BAR).get_by_role("link", name="Access tokens")).to_be_focused()


#: What is drawn where the bar is, but the bar: every element under a grid of points
#: across it (hit testing, so what MLflow's own scrolling boxes clip away is not there).
UNDER_THE_BAR = """(selector) => {
  const bar = document.querySelector(selector);
  const box = bar.getBoundingClientRect();
  const under = new Set();
  for (let x = box.left + 1; x < box.right; x += 8) {
    for (const y of [box.top + 1, (box.top + box.bottom) / 2, box.bottom - 1]) {
      for (const element of document.elementsFromPoint(x, y)) {
        if (!bar.contains(element) && element !== document.body
            && element !== document.documentElement) {
          under.add(element.tagName + "." + element.className);
        }
      }
    }
  }
  // Whether MLflow's page scrolls, with the bar and without it (its room taken back).
  const page = document.documentElement;
  const scrolls = page.scrollHeight > innerHeight;
  page.classList.remove("ldap-auth-bar-shown");
  const scrolledWithout = page.scrollHeight > innerHeight;
  page.classList.add("ldap-auth-bar-shown");
  return {under: [...under], scrolls, scrolledWithout};
}"""


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_bar_covers_nothing_of_mlflows_page(open_as, world, width, height):
    for name in ("home", "run"):
        path, mlflows_content = PAGES[name]
        page = open_as(CAROL, path.format(**world), width, height)
        expect(page.locator(BAR)).to_be_visible()
        expect(page.get_by_text(mlflows_content).first).to_be_visible()
        geometry = page.evaluate(UNDER_THE_BAR, BAR)
        assert geometry["under"] == [], geometry
        # A page of MLflow's that fit the window still does (3.17's home at 390 px
        # scrolls by itself: it still does, 28 px further).
        assert geometry["scrolls"] == geometry["scrolledWithout"], geometry
        expect(page.locator(BAR).locator("a", has_text="LDAP admin")).to_be_visible()


@pytest.fixture
def answering_me(browser, server):
    """``answering_me(handler, with_mlflow)``: MLflow's home with the ``/me`` request
    answered by ``handler`` (a Playwright route handler); the page, once the bar's
    script is done. ``with_mlflow=False``: the same page from the server, but MLflow's
    own scripts not loaded (what the bar does with an answer is the bar's script alone,
    and MLflow's app costs the browser seconds of CPU per load)."""
    context = patient(
        browser.new_context(
            extra_http_headers=basic_auth({"username": "alice", "password": "alice-password"}),
            base_url=server.url,
        )
    )

    def make(handler, with_mlflow=True):
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.route("**" + ME, handler)
        if not with_mlflow:
            page.route("**/static-files/**", lambda route: route.abort())
        page.goto("/")
        expect(page.locator("html[data-ldap-auth-bar]")).to_have_count(1)
        if with_mlflow:
            expect(page.get_by_text("Welcome to MLflow")).to_be_visible()
        return page

    yield make
    context.close()


#: Answers of ``/me`` the bar shows nothing for: (id, route handler, MLflow's app loaded).
#: MLflow's page itself is shown whatever the bar's request gets (checked with the
#: realistic failures); what the bar does with an odd answer is its script's own.
UNANSWERED = [
    ("401", lambda r: r.fulfill(status=401, json={"error_code": "UNAUTHENTICATED"}), True),
    ("network", lambda r: r.abort(), True),
    ("not-json", lambda r: r.fulfill(status=200, body="not json"), False),
    ("no-user", lambda r: r.fulfill(status=200, json={"links": {}}), False),
]


@pytest.mark.parametrize(
    "handler, with_mlflow",
    [case[1:] for case in UNANSWERED],
    ids=[case[0] for case in UNANSWERED],
)
def test_when_the_server_cannot_say_who_is_signed_in_the_bar_shows_nothing(
    answering_me, handler, with_mlflow
):
    page = answering_me(handler, with_mlflow)
    expect(page.locator("html")).to_have_attribute("data-ldap-auth-bar", "none")
    expect(page.locator(BAR)).to_have_count(0)
    assert page.errors == []


def test_the_bar_shows_names_as_text_links_only_to_this_server_and_sign_out_when_given(
    answering_me,
):
    """What a session's sign-out looks like (``whoami_api.sign_out_form``): a form that
    POSTs the CSRF token, never a link a GET would follow; and what the script does with
    values it must not trust as markup or addresses."""
    who = {
        "user": "<img src=x>",
        "is_admin": True,
        "links": {"tokens": "javascript:alert(1)", "admin": "//elsewhere.example/"},
        "sign_out": {"action": "/ldap-auth/logout", "csrf_token": "the-token"},
    }
    page = answering_me(lambda route: route.fulfill(status=200, json=who), with_mlflow=False)
    bar = page.locator(BAR)
    expect(bar).to_contain_text("<img src=x>")
    expect(bar.locator("img")).to_have_count(0)
    expect(bar.get_by_role("link")).to_have_count(0)
    form = bar.locator("form")
    expect(form).to_have_attribute("method", "post")
    expect(form).to_have_attribute("action", "/ldap-auth/logout")
    expect(form.locator("input[name=csrf_token]")).to_have_value("the-token")
    posted = []

    def sign_out(route):
        posted.append((route.request.method, route.request.post_data))
        route.fulfill(status=200, body="signed out")

    page.route("**/ldap-auth/logout", sign_out)
    bar.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("signed out")).to_be_visible()
    assert posted == [("POST", "csrf_token=the-token")]
    assert page.errors == []


def test_the_bar_offers_no_sign_out_off_the_server(answering_me):
    who = {
        "user": "alice",
        "links": {},
        "sign_out": {"action": "//elsewhere.example/logout", "csrf_token": "t"},
    }
    page = answering_me(lambda route: route.fulfill(status=200, json=who), with_mlflow=False)
    expect(page.locator(BAR)).to_contain_text("alice")
    expect(page.locator(BAR).locator("form")).to_have_count(0)
