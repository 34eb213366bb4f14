"""The admin page in a real headless Chromium (Playwright), against real slapd and MLflow."""

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from browser import ANSWER_SECONDS, answer_to, basic_auth, patient, shot
from servers import GROUPS_DN, SlapdInstance, start_server

ADMIN = {"username": "carol", "password": "carol-password"}
XSS_NAME = "<script>alert(1)</script>"
XSS_DN = f"cn=\\3Cscript\\3Ealert(1)\\3C/script\\3E,{GROUPS_DN}"


@pytest.fixture(scope="module")
def directory():
    with SlapdInstance() as instance:
        instance.ldif(
            "ldapadd",
            f"dn: {XSS_DN}\nobjectClass: groupOfNames\ncn: {XSS_NAME}\n"
            "member: uid=dave,ou=people,dc=example,dc=org\n",
        )
        yield instance


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    with start_server(
        tmp_path_factory, directory, name="ui", mlflow={"default_permission": "NO_PERMISSIONS"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def experiment_id(server):
    response = requests.post(
        server.url + "/api/2.0/mlflow/experiments/create",
        json={"name": "ui-exp"},
        auth=(ADMIN["username"], ADMIN["password"]),
        timeout=30,
    )
    return response.json()["experiment_id"]


@pytest.fixture
def admin_page(browser, server):
    context = patient(
        browser.new_context(extra_http_headers=basic_auth(ADMIN), base_url=server.url)
    )
    page = context.new_page()
    yield page
    context.close()


def alice_reads(server, experiment_id) -> int:
    return requests.get(
        server.url + f"/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}",
        auth=("alice", "alice-password"),
        timeout=30,
    ).status_code


def flush_via_ui(page):
    page.goto("/ldap-admin/status")
    page.get_by_role("button", name="Flush this worker's caches").click()
    expect(page.get_by_role("status")).to_contain_text("caches were emptied")


def test_add_use_and_delete_a_mapping_in_the_browser(admin_page, server, experiment_id):
    page = admin_page
    page.goto("/ldap-admin/")
    expect(page.get_by_role("heading", name="No mappings yet")).to_be_visible()
    shot(page, "empty")
    assert alice_reads(server, experiment_id) == 403

    page.get_by_role("link", name="Add the first mapping").click()
    page.get_by_label("Group name contains").fill("data")
    page.get_by_role("button", name="Search the directory").click()
    page.get_by_role("link", name="data-science").click()
    expect(page.get_by_label("Group DN")).to_have_value(f"cn=data-science,{GROUPS_DN}")
    page.get_by_label("Resource type").select_option("experiment")
    page.get_by_label("Resource pattern").fill(experiment_id)
    page.get_by_label("Permission").select_option("READ")
    shot(page, "add-mapping")
    page.get_by_role("button", name="Add mapping").click()
    # Nothing is saved before the preview is confirmed.
    expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
    preview = page.locator(".preview")
    expect(preview).to_contain_text("2 people are in the group")
    expect(preview).to_contain_text("alice")
    expect(preview).to_contain_text("bob")
    assert alice_reads(server, experiment_id) == 403
    shot(page, "add-mapping-preview")
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Added: members of cn=data-science")
    expect(page.get_by_role("heading", name="data-science")).to_be_visible()
    shot(page, "mappings")

    flush_via_ui(page)
    assert alice_reads(server, experiment_id) == 200  # alice is in data-science

    page.goto("/ldap-admin/")
    page.get_by_role("link", name="Delete…").first.click()
    expect(page.get_by_role("heading", name="Delete this mapping?")).to_be_visible()
    shot(page, "confirm-delete")
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")
    expect(page.get_by_role("heading", name="No mappings yet")).to_be_visible()
    flush_via_ui(page)
    assert alice_reads(server, experiment_id) == 403


@pytest.fixture
def admin_page_without_js(browser, server):
    context = patient(
        browser.new_context(
            extra_http_headers=basic_auth(ADMIN), base_url=server.url, java_script_enabled=False
        )
    )
    yield context.new_page()
    context.close()


def test_form_errors_are_shown_next_to_their_field(admin_page_without_js):
    # Without the script nothing narrows the selects: the server's own checks answer.
    page = admin_page_without_js
    page.goto("/ldap-admin/mappings/new")
    page.get_by_label("Group DN").fill("not a dn")
    page.get_by_label("Resource type").select_option("run")
    page.get_by_label("Resource pattern").fill("abc")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.locator("#group-error")).to_contain_text("Not a valid DN")
    expect(page.locator("#resource_pattern-error")).to_contain_text("wildcard")
    page.get_by_label("Group DN").fill(f"cn=ghost,{GROUPS_DN}")
    page.get_by_label("Resource type").select_option("workspace")
    page.get_by_label("Resource pattern").fill("*")
    page.get_by_label("Permission").select_option("EDIT")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.locator("#permission-error")).to_contain_text("Workspace-wide grants accept only")
    shot(page, "form-errors")


def test_test_a_user_shows_the_nested_group_path(admin_page):
    page = admin_page
    page.goto("/ldap-admin/users")
    page.get_by_label("Directory username").fill("bob")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_text("uid=bob,ou=people,dc=example,dc=org")).to_be_visible()
    nested = page.locator("li", has_text=f"cn=data-science,{GROUPS_DN}")
    expect(nested).to_contain_text("nested")
    expect(nested).to_contain_text(f"via cn=ml-platform,{GROUPS_DN}")
    shot(page, "test-user")
    page.get_by_label("Directory username").fill("nobody-here")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_text("No user 'nobody-here' in the directory.")).to_be_visible()


def test_status_page_and_flush(admin_page, directory):
    page = admin_page
    page.goto("/ldap-admin/status")
    # The server this MLflow is configured with, port and all.
    server_cell = page.locator("td", has_text=directory.ldap_uri)
    expect(server_cell).to_be_visible()
    expect(page.locator("tr", has=server_cell).locator(".state")).to_have_text("yes")
    expect(page.get_by_text("Service-account bind: OK")).to_be_visible()
    shot(page, "status")
    page.get_by_role("button", name="Flush this worker's caches").click()
    expect(page.get_by_role("status")).to_contain_text("caches were emptied")


def test_directory_values_are_escaped(admin_page, server):
    page = admin_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/ldap-admin/mappings/new?q=script")
    expect(page.get_by_role("link", name=XSS_NAME)).to_be_visible()
    page.get_by_role("link", name=XSS_NAME).click()
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_text(XSS_DN).first).to_be_visible()  # the preview, escaped
    assert page.locator("script").count() == 0
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("heading", name=XSS_NAME)).to_be_visible()
    assert page.locator("script").count() == 0
    assert dialogs == []
    page.goto("/ldap-admin/users?username=dave")
    expect(page.get_by_text(XSS_DN)).to_be_visible()
    assert page.locator("script").count() == 0 and dialogs == []
    # Tidy up for the other tests: delete through the confirmation page.
    page.goto("/ldap-admin/")
    page.get_by_role("link", name="Delete…").first.click()
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")


def test_non_admin_gets_a_403_page(browser, server):
    context = patient(
        browser.new_context(
            extra_http_headers=basic_auth({"username": "alice", "password": "alice-password"}),
            base_url=server.url,
        )
    )
    page = context.new_page()
    response = page.goto("/ldap-admin/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Admins only")).to_be_visible()
    # The same look as every other page: the stylesheet loaded and applies.
    assert page.evaluate("document.styleSheets.length") == 1
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(245, 247, 250)"  # --bg of admin.css, not the browser's white
    expect(page.locator("header.top")).to_contain_text("Logged in as alice")
    expect(page.get_by_role("link", name="Back to MLflow").first).to_have_attribute("href", "/")
    # What a non-admin can do here: their own tokens.
    page.get_by_role("link", name="the tokens page").click()
    expect(page.get_by_role("heading", name="Access tokens")).to_be_visible()
    assert page.url.endswith("/ldap-admin/tokens/")
    page.go_back()
    shot(page, "not-an-admin")
    context.close()


def test_login_challenge_headers_and_csrf(server):
    anonymous = requests.get(server.url + "/ldap-admin/", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert anonymous.headers["Content-Type"].startswith("text/html")
    assert "Log in" in anonymous.text

    auth = (ADMIN["username"], ADMIN["password"])
    page = requests.get(server.url + "/ldap-admin/", auth=auth, timeout=30)
    # MLflow's security middleware sets its own X-Frame-Options (SAMEORIGIN by default,
    # --x-frame-options); the page's CSP forbids framing outright.
    assert page.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    before = requests.get(
        server.url + "/api/2.0/mlflow/ldap-auth/group-mappings", auth=auth, timeout=30
    ).json()
    forged = requests.post(
        server.url + "/ldap-admin/mappings/new",
        data={
            "group": f"cn=data-science,{GROUPS_DN}",
            "resource_type": "experiment",
            "resource_pattern": "*",
            "permission": "MANAGE",
            "workspace": "default",
        },
        auth=auth,
        timeout=30,
    )
    assert forged.status_code == 400
    assert re.search(r"csrf|CSRF", forged.text)
    flush = requests.post(server.url + "/ldap-admin/cache/flush", auth=auth, timeout=30)
    assert flush.status_code == 400
    after = requests.get(
        server.url + "/api/2.0/mlflow/ldap-auth/group-mappings", auth=auth, timeout=30
    ).json()
    assert after == before


def test_selects_follow_the_resource_type_with_javascript(admin_page):
    page = admin_page
    page.goto("/ldap-admin/mappings/new")
    page.get_by_label("Resource type").select_option("workspace")
    expect(page.locator("#permission option[value=READ]")).to_be_disabled()
    expect(page.locator("#permission option[value=MANAGE]")).to_be_enabled()
    page.get_by_label("Resource type").select_option("run")
    expect(page.get_by_label("Resource pattern")).to_have_value("*")
    expect(page.get_by_label("Resource pattern")).not_to_be_editable()
    page.get_by_label("Resource type").select_option("experiment")
    expect(page.get_by_label("Resource pattern")).to_be_editable()


def test_the_add_forms_script_sits_after_the_page_and_searches(admin_page, experiment_id):
    page = admin_page
    page.goto("/ldap-admin/mappings/new")
    assert page.title() == "Add mapping · MLflow"
    # The script is the page's, loaded after it: not part of its title or content.
    assert page.locator("title script, main script").count() == 0
    assert page.locator("body > script[src$='/ldap-admin/static/admin.js']").count() == 1
    search = page.get_by_label("whose name contains")
    answer = answer_to(page, "/resources.json", lambda: search.fill("ui-ex"))
    assert answer.ok and answer.json()["resources"][0]["pattern"] == experiment_id
    page.locator("#resource-results a", has_text="ui-exp").click()
    expect(page.get_by_label("Resource pattern")).to_have_value(experiment_id)


def test_a_name_typed_before_the_script_arrived_is_searched_when_it_does(admin_page, experiment_id):
    # The script loads after the page: a quick typist (or a slow network) fills the
    # field before its input listener exists. Hold the script until the name is typed.
    page = admin_page
    held = []
    page.route("**/ldap-admin/static/admin.js", lambda route: held.append(route))
    page.goto("/ldap-admin/mappings/new", wait_until="commit")
    page.get_by_label("whose name contains").fill("ui-ex")
    deadline = time.monotonic() + ANSWER_SECONDS
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # lets Playwright hand over the held request
    assert len(held) == 1
    answer = answer_to(page, "/resources.json", held[0].continue_)
    assert answer.ok and answer.json()["resources"][0]["pattern"] == experiment_id
    expect(page.locator("#resource-results a", has_text="ui-exp")).to_be_visible()


def test_everything_works_without_javascript(admin_page_without_js, experiment_id):
    page = admin_page_without_js
    page.goto("/ldap-admin/mappings/new?q=platform")
    page.get_by_role("link", name="ml-platform").click()
    page.get_by_label("Resource pattern").fill(experiment_id)
    page.get_by_role("button", name="Add mapping").click()
    expect(page.locator(".preview")).to_contain_text("bob")
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Added: members of cn=ml-platform")
    page.get_by_role("link", name="Delete…").first.click()
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")


def test_a_group_dn_typed_as_ad_tools_spell_it_is_accepted(admin_page_without_js):
    page = admin_page_without_js
    page.goto("/ldap-admin/mappings/new")
    page.get_by_label("Group DN").fill("CN=ML-Platform, OU=Groups, DC=Example, DC=Org")
    page.get_by_label("Resource type").select_option("registered_model")
    page.get_by_label("Resource pattern").fill("*")
    page.get_by_label("Permission").select_option("READ")
    page.get_by_role("button", name="Add mapping").click()
    page.get_by_role("button", name="Save mapping").click()
    # Stored under the directory's own spelling of the group.
    expect(page.get_by_role("status")).to_contain_text(
        f"Added: members of cn=ml-platform,{GROUPS_DN}"
    )
    page.get_by_role("link", name="Delete…").first.click()
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")
