"""``mlflow server --static-prefix /mlflow``: the plugin lives under the prefix, as MLflow does.

Against a real slapd and ``mlflow server``: the admin pages, their stylesheet and script,
the REST API, the token pages and the sign-in page answer at ``/mlflow/...`` and nowhere
else (a browser without credentials is sent to the page there); the guards
(authentication, admins only, the Origin check, ``no-store``) hold there; MLflow's
client with a tracking URI that names the prefix works; links, form actions, redirects
and the live search stay under the prefix in Chromium; the tracking URI a new token's
page shows is the one the client used.
"""

import re
from types import SimpleNamespace

import pytest
import requests
from playwright.sync_api import expect

from browser import ANSWER_SECONDS, answer_to, basic_auth, patient
from servers import (
    ADMIN_PASSWORD,
    CAROL,
    DATA_SCIENCE_DN,
    START_SECONDS,
    client_as,
    start_server,
    wait_until,
)

PREFIX = "/mlflow"
API = "/api/2.0/mlflow/ldap-auth"
UI = "/ldap-admin"
PROXY_HOST = "mlflow.example.org"
ALICE = ("alice", "alice-password")
ADMIN = {"username": "carol", "password": "carol-password"}


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    running = start_server(
        tmp_path_factory,
        slapd,
        name="prefixed",
        extra_args=["--static-prefix", PREFIX, "--allowed-hosts", f"{PROXY_HOST},127.0.0.1:*"],
        ready=False,
    )
    with running:
        # MLflow's own /health moves under the prefix too.
        wait_until(
            lambda: healthy(running),
            f"mlflow server not healthy at {PREFIX}/health",
            timeout=START_SECONDS,
        )
        yield running


def healthy(server) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"mlflow server exited:\n{server.log()}")
    try:
        return requests.get(server.url + PREFIX + "/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def get(server, path, auth=CAROL, **kwargs):
    return requests.get(server.url + path, auth=auth, timeout=ANSWER_SECONDS, **kwargs)


@pytest.fixture(scope="module")
def experiment(server):
    response = requests.post(
        server.url + PREFIX + "/api/2.0/mlflow/experiments/create",
        json={"name": "prefixed-fraud"},
        auth=CAROL,
        timeout=ANSWER_SECONDS,
    )
    assert response.status_code == 200, response.text
    return response.json()["experiment_id"]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (UI + "/", "text/html"),
        (UI + "/mappings/new", "text/html"),
        (UI + "/users?username=alice", "text/html"),
        (UI + "/status", "text/html"),
        (UI + "/activity", "text/html"),
        (UI + "/tokens/", "text/html"),
        (UI + "/static/admin.css", "text/css"),
        (UI + "/static/admin.js", "text/javascript"),
        (UI + "/static/mlflow-bar.js", "text/javascript"),
        (UI + "/static/mlflow-bar.css", "text/css"),
        (API + "/group-mappings", "application/json"),
        (API + "/status", "application/json"),
        (API + "/users/alice", "application/json"),
        (API + "/tokens", "application/json"),
        (API + "/activity", "application/json"),
        (API + "/me", "application/json"),
    ],
)
def test_every_plugin_path_answers_under_the_prefix_and_not_outside_it(server, path, kind):
    prefixed = get(server, PREFIX + path)
    assert prefixed.status_code == 200, prefixed.text
    assert prefixed.headers["Content-Type"].startswith(kind)
    if not path.startswith(UI + "/static/"):
        assert prefixed.headers["Cache-Control"] == "no-store"
    # As MLflow's own routes: nothing of the plugin at the unprefixed path.
    bare = get(server, path)
    assert bare.status_code == 404, (path, bare.status_code, bare.text[:200])
    assert "ldap" not in bare.text.lower()


def test_the_public_stylesheet_opens_nothing_else_under_the_prefix(server):
    css = get(server, PREFIX + UI + "/static/admin.css", auth=None)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    for path in (UI + "/static/%2e%2e/app.py", UI + "/static/..%2fREADME.md"):
        assert get(server, PREFIX + path, auth=None).status_code == 404, path
    # Nor does a look-alike of the prefix reach the plugin.
    assert get(server, PREFIX + "x" + UI + "/", auth=CAROL).status_code == 404


def test_links_forms_and_assets_of_a_page_stay_under_the_prefix(server):
    page = get(server, PREFIX + UI + "/mappings/new").text
    targets = re.findall(r'(?:href|action|src|data-search-url)="([^"]+)"', page)
    assert targets
    local = [target for target in targets if not target.startswith("#")]
    assert all(target.startswith(PREFIX + "/") for target in local), local
    assert f'href="{PREFIX}/"' in page  # back to MLflow's own home, under the prefix
    assert f'data-search-url="{PREFIX}{UI}/resources.json"' in page


@pytest.mark.parametrize("path", [UI + "/", UI + "/status", API + "/group-mappings"])
def test_without_credentials_the_prefixed_paths_challenge(server, path):
    response = get(server, PREFIX + path, auth=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert response.headers["Cache-Control"] == "no-store"


def test_a_browser_goes_to_the_sign_in_page_under_the_prefix_and_back(server):
    """docs/signing-in.md: the 303, the page, its form and the way back stay under the prefix."""
    navigation = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    asked = PREFIX + UI + "/status?x=1"
    answer = get(server, asked, auth=None, headers=navigation, allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == PREFIX + "/ldap-auth/login?next=" + (
        PREFIX + UI + "/status%3Fx%3D1"
    )
    page = get(server, answer.headers["Location"], auth=None)
    assert page.status_code == 200
    targets = re.findall(r'(?:href|action|src)="([^"]+)"', page.text)
    assert targets and all(target.startswith(PREFIX + "/") for target in targets), targets
    assert f'name="next" type="hidden" value="{asked}"' in page.text
    # Off the server, next goes to MLflow's home under the prefix.
    home = get(server, PREFIX + "/ldap-auth/login?next=//evil.example", auth=None)
    assert f'name="next" type="hidden" value="{PREFIX}/"' in home.text
    assert get(server, "/ldap-auth/login").status_code == 404  # nothing outside the prefix


def test_a_non_admin_is_refused_under_the_prefix_and_sent_to_their_tokens(server):
    page = get(server, PREFIX + UI + "/", auth=ALICE)
    assert page.status_code == 403 and "Admins only" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert f'href="{PREFIX}{UI}/tokens/"' in page.text
    assert f'href="{PREFIX}/static-files/' not in page.text
    assert f'<link rel="stylesheet" href="{PREFIX}{UI}/static/admin.css">' in page.text
    api = get(server, PREFIX + API + "/group-mappings", auth=ALICE)
    assert api.status_code == 403
    assert api.json()["error_code"] == "PERMISSION_DENIED"
    mapping = {"group": DATA_SCIENCE_DN, "resource_type": "experiment", "permission": "MANAGE"}
    create = requests.post(
        server.url + PREFIX + API + "/group-mappings",
        json=mapping,
        auth=ALICE,
        timeout=ANSWER_SECONDS,
    )
    assert create.status_code == 403
    # Their own tokens are theirs, under the prefix.
    assert get(server, PREFIX + API + "/tokens", auth=ALICE).status_code == 200
    assert get(server, PREFIX + UI + "/tokens/", auth=ALICE).status_code == 200
    # And the unprefixed paths give a non-admin nothing either.
    for path in (UI + "/", API + "/group-mappings", API + "/tokens"):
        assert get(server, path, auth=ALICE).status_code in (403, 404), path
        assert get(server, path, auth=None).status_code in (401, 404), path


def test_a_foreign_origin_is_refused_under_the_prefix(server):
    evil = {"Origin": "http://localhost:9999"}
    page = get(server, PREFIX + UI + "/", headers=evil)
    assert page.status_code == 403 and "Cross-origin request refused" in page.text
    api = requests.post(
        server.url + PREFIX + API + "/cache/flush",
        auth=CAROL,
        headers=evil,
        timeout=ANSWER_SECONDS,
    )
    assert api.status_code == 403
    assert api.json()["error_code"] == "PERMISSION_DENIED"
    own = {"Origin": server.url}
    assert get(server, PREFIX + UI + "/", headers=own).status_code == 200


def test_mlflows_native_routes_are_still_authenticated_under_the_prefix(server):
    """The permission middleware's gate passes the plugin's paths on to Flask; MLflow's
    FastAPI routes under the prefix still need credentials."""
    traces = requests.post(
        server.url + PREFIX + "/v1/traces",
        data=b"",
        headers={"Content-Type": "application/x-protobuf"},
        timeout=ANSWER_SECONDS,
    )
    assert traces.status_code == 401


def test_the_python_client_with_the_prefix_in_the_tracking_uri(server, experiment):
    prefixed = SimpleNamespace(url=server.url + PREFIX)
    with client_as(prefixed, *CAROL, app=True) as client:
        mapping = client.create_group_mapping(DATA_SCIENCE_DN, "EDIT", "experiment", experiment)
        try:
            assert mapping in client.list_group_mappings()
            alice = client.lookup_user("alice")
            assert alice["dn"] == "uid=alice,ou=people,dc=example,dc=org"
            assert {p["permission"] for p in alice["permissions"]} == {"EDIT"}
            answer = client.who_has_access("experiment", "prefixed-fraud")
            assert answer["resource"]["id"] == experiment
            people = {e["user"]: e["permission"] for e in answer["entries"]}
            assert people["alice"] == "EDIT"
            assert client.status()["service_bind"]["ok"] is True
            assert client.flush_cache()["flushed"] is True
            # MLflow's own part of the client goes through the prefix as well.
            assert client.get_user("carol").username == "carol"
        finally:
            client.delete_group_mapping(mapping["id"])
        assert mapping["id"] not in {m["id"] for m in client.list_group_mappings()}
        created = client.create_token("prefixed-ci", 1)
        assert created["token"]["id"] in {t["id"] for t in client.list_tokens()}
        assert client.revoke_token(created["token"]["id"])["id"] == created["token"]["id"]
    # The break-glass admin, through the same prefix.
    with client_as(prefixed, "admin", ADMIN_PASSWORD, app=True) as client:
        assert client.get_user("admin").is_admin


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def created_token_page(server, headers: dict) -> str:
    """Create a token on the page, as a browser behind a proxy with ``headers`` would."""
    form = get(server, PREFIX + UI + "/tokens/", auth=ALICE, headers=headers)
    assert form.status_code == 200, form.text
    # The session cookie may be Secure (an https request): sent back by hand.
    cookie = "; ".join(f"{c.name}={c.value}" for c in form.cookies)
    created = requests.post(
        server.url + PREFIX + UI + "/tokens/",
        data={"csrf_token": csrf_token(form.text), "name": "proxied", "expires_in_days": "1"},
        auth=ALICE,
        headers={**headers, "Cookie": cookie},
        timeout=ANSWER_SECONDS,
    )
    assert created.status_code == 200, created.text
    assert "Token created" in created.text
    return created.text


@pytest.mark.parametrize(
    ("headers", "tracking_uri"),
    [
        ({}, None),
        ({"Host": PROXY_HOST}, f"http://{PROXY_HOST}{PREFIX}"),
        # A TLS proxy on this host (uvicorn trusts X-Forwarded-Proto from 127.0.0.1).
        ({"Host": PROXY_HOST, "X-Forwarded-Proto": "https"}, f"https://{PROXY_HOST}{PREFIX}"),
        # X-Forwarded-Host is not the server's to believe: the Host it was sent wins.
        (
            {"Host": PROXY_HOST, "X-Forwarded-Host": "evil.example"},
            f"http://{PROXY_HOST}{PREFIX}",
        ),
    ],
    ids=["direct", "host", "tls-proxy", "forwarded-host"],
)
def test_a_new_tokens_page_shows_the_tracking_uri_the_client_used(server, headers, tracking_uri):
    tracking_uri = tracking_uri or server.url + PREFIX
    page = created_token_page(server, headers)
    shown = re.findall(r"export MLFLOW_TRACKING_URI=(\S+)", page)
    assert shown == [tracking_uri, tracking_uri]
    assert "evil.example" not in page


def test_clicking_through_the_admin_page_under_the_prefix(browser, server, experiment):
    context = patient(
        browser.new_context(extra_http_headers=basic_auth(ADMIN), base_url=server.url)
    )
    page = context.new_page()
    try:
        page.goto(PREFIX + UI + "/")
        expect(page.get_by_role("heading", name="Group mappings")).to_be_visible()
        # The stylesheet came from under the prefix and applies.
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
            "rgb(245, 247, 250)"
        )
        expect(page.get_by_role("link", name="Back to MLflow")).to_have_attribute(
            "href", PREFIX + "/"
        )
        page.get_by_role("navigation").get_by_role("link", name="Add mapping").click()
        expect(page).to_have_url(re.compile(rf"{PREFIX}{UI}/mappings/new$"))
        page.get_by_label("Group name contains").fill("data")
        page.get_by_role("button", name="Search the directory").click()
        page.get_by_role("link", name="data-science").click()
        expect(page.get_by_label("Group DN")).to_have_value(DATA_SCIENCE_DN)
        # The live search asks under the prefix.
        search = page.get_by_label("whose name contains")
        answer = answer_to(page, "/resources.json", lambda: search.fill("prefixed"))
        assert answer.url.startswith(f"{server.url}{PREFIX}{UI}/resources.json?"), answer.url
        assert answer.ok
        page.locator("#resource-results a", has_text="prefixed-fraud").click()
        expect(page.get_by_label("Resource pattern")).to_have_value(experiment)
        page.get_by_label("Permission").select_option("READ")
        page.get_by_role("button", name="Add mapping").click()
        expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
        page.get_by_role("button", name="Save mapping").click()
        expect(page.get_by_role("status")).to_contain_text("Added: members of cn=data-science")
        expect(page).to_have_url(re.compile(rf"{PREFIX}{UI}/$"))

        page.locator("td.actions").get_by_role("link", name="Who has access").click()
        expect(page.locator("#access-answer h2")).to_contain_text("prefixed-fraud")
        expect(page.locator('tr[data-user="alice"]')).to_have_attribute("data-permission", "READ")
        page.locator('tr[data-user="alice"]').get_by_role("link", name="alice").click()
        expect(page.get_by_text("uid=alice,ou=people,dc=example,dc=org")).to_be_visible()
        expect(page).to_have_url(re.compile(rf"{PREFIX}{UI}/users\?username=alice$"))

        page.get_by_role("navigation").get_by_role("link", name="Mappings").click()
        page.get_by_role("link", name="Delete…").first.click()
        page.get_by_role("button", name="Delete mapping").click()
        expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")
        expect(page.get_by_role("heading", name="No mappings yet")).to_be_visible()

        page.get_by_role("navigation").get_by_role("link", name="Status").click()
        page.get_by_role("button", name="Flush this worker's caches").click()
        expect(page.get_by_role("status")).to_contain_text("caches were emptied")
        expect(page).to_have_url(re.compile(rf"{PREFIX}{UI}/status$"))
        page.get_by_role("navigation").get_by_role("link", name="Activity").click()
        expect(page.get_by_role("heading", name="Activity", exact=True)).to_be_visible()
        page.get_by_role("navigation").get_by_role("link", name="Tokens").click()
        expect(page.get_by_role("heading", name="Access tokens")).to_be_visible()
        expect(page).to_have_url(re.compile(rf"{PREFIX}{UI}/tokens/$"))
    finally:
        context.close()


def test_the_bar_in_mlflows_page_under_the_prefix(browser, server):
    """docs/clients.md#inside-mlflows-pages: the script, its question and its links."""
    html = get(server, PREFIX + "/").text
    assert f'<script src="{PREFIX}{UI}/static/mlflow-bar.js" data-me="{PREFIX}{API}/me"' in html
    me = get(server, PREFIX + API + "/me").json()
    assert me["links"] == {"tokens": f"{PREFIX}{UI}/tokens/", "admin": f"{PREFIX}{UI}/"}
    assert me["sign_out"] is None  # HTTP Basic
    context = patient(
        browser.new_context(extra_http_headers=basic_auth(ADMIN), base_url=server.url)
    )
    page = context.new_page()
    try:
        page.goto(PREFIX + "/")
        bar = page.locator("#ldap-auth-bar")
        expect(bar).to_contain_text("carol")
        expect(bar.get_by_role("link", name="LDAP admin")).to_have_attribute(
            "href", f"{PREFIX}{UI}/"
        )
        bar.get_by_role("link", name="Access tokens").click()
        expect(page).to_have_url(f"{server.url}{PREFIX}{UI}/tokens/")
        expect(page.get_by_role("heading", name="Access tokens")).to_be_visible()
    finally:
        context.close()
