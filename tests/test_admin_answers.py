"""The admin answers of docs/admin-page.md in a real headless Chromium: who has access, names next
to ids, previews before a mapping is saved or deleted, the resource search.

Each page is checked with JavaScript on and off, at 1280 and 390 px (no sideways
scrolling of the page itself), for escaping of directory values, for CSRF on its POSTs,
and against the REST answer for the same question.
"""

import pytest
import requests
from playwright.sync_api import expect

from browser import answer_to, basic_auth, fits, patient, shot
from servers import (
    CAROL,
    DATA_SCIENCE_DN,
    GROUPS_DN,
    USERS_DN,
    SlapdInstance,
    add_person,
    start_server,
)

ADMIN = {"username": "carol", "password": "carol-password"}
API = "/api/2.0/mlflow/ldap-auth"
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_DN = f"cn=\\3Cimg src=x onerror=alert(1)\\3E,{GROUPS_DN}"
XSS_USER = "<img src=y onerror=alert(2)>"
PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"
WIDTHS = {"wide": 1280, "narrow": 390}


@pytest.fixture(scope="module")
def directory():
    with SlapdInstance() as instance:
        instance.ldif(
            "ldapadd",
            f"dn: {XSS_DN}\nobjectClass: groupOfNames\ncn: {XSS_NAME}\n"
            "member: uid=dave,ou=people,dc=example,dc=org\n",
        )
        add_person(instance, XSS_USER, "x-password", rdn="uid=xss-user", groups=[XSS_DN])
        yield instance


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    with start_server(
        tmp_path_factory, directory, name="answers", mlflow={"default_permission": "NO_PERMISSIONS"}
    ) as running:
        yield running


def rest(server, method, path, **kwargs):
    response = requests.request(method, server.url + path, auth=CAROL, timeout=60, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def world(server):
    """fraud-detection (EDIT for data-science, DENY for ml-platform, READ for the XSS
    group) and a deleted experiment with a mapping left on it."""
    ids = {}
    for name in ("fraud-detection", "short-lived", "fraud-<b>bold</b>"):
        ids[name] = rest(server, "POST", "/api/2.0/mlflow/experiments/create", json={"name": name})[
            "experiment_id"
        ]
    for group, permission, experiment in (
        (DATA_SCIENCE_DN, "EDIT", "fraud-detection"),
        (PLATFORM_DN, "DENY", "fraud-detection"),
        (XSS_DN, "READ", "fraud-detection"),
        (USERS_DN, "READ", "short-lived"),
    ):
        rest(
            server,
            "POST",
            API + "/group-mappings",
            json={
                "group": group,
                "resource_type": "experiment",
                "resource_pattern": ids[experiment],
                "permission": permission,
            },
        )
    rest(
        server,
        "POST",
        "/api/2.0/mlflow/experiments/delete",
        json={"experiment_id": ids["short-lived"]},
    )
    return ids


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def page(request, browser, server):
    context = patient(
        browser.new_context(
            extra_http_headers=basic_auth(ADMIN),
            base_url=server.url,
            java_script_enabled=request.param,
            viewport={"width": 1280, "height": 900},
        )
    )
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.js = request.param
    yield page
    context.close()


def test_who_can_edit_fraud_detection_and_why(page, server, world):
    page.goto("/ldap-admin/access")
    page.get_by_label("Resource type").select_option("experiment")
    page.get_by_label("Id or name").fill("fraud-detection")
    page.get_by_role("button", name="Show").click()
    answer = rest(
        server,
        "GET",
        API + "/access",
        params={"resource_type": "experiment", "resource": "fraud-detection"},
    )
    expect(page.locator("#access-answer h2")).to_contain_text("fraud-detection")
    rows = page.locator("table.access tbody tr")
    expect(rows).to_have_count(len(answer["entries"]))
    for entry in answer["entries"]:
        row = page.locator(f'tr[data-user="{entry["user"]}"]')
        expect(row).to_have_attribute("data-permission", entry["permission"])
    alice = page.locator('tr[data-user="alice"]')
    expect(alice).to_contain_text("EDIT")
    expect(alice).to_contain_text(f"members of {DATA_SCIENCE_DN}")
    bob = page.locator('tr[data-user="bob"]')
    expect(bob.locator("td").nth(1)).to_have_text("DENY")
    expect(bob.locator("li.outweighed")).to_contain_text("DENY wins")
    expect(bob.locator("li.outweighed")).to_contain_text(f"through {PLATFORM_DN}")
    # The directory's values are shown as text, never as markup.
    expect(page.locator(f'tr[data-user="{XSS_USER}"] td').first).to_have_text(XSS_USER)
    expect(page.locator("code", has_text="onerror").first).to_be_visible()
    assert page.locator("img").count() == 0 and page.dialogs == []
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        assert fits(page), f"sideways scrolling at {width} px"
        if page.js:
            shot(page, "access" if label == "wide" else "access-narrow")


def test_a_bad_question_is_answered_on_the_page(page, world):
    response = page.goto("/ldap-admin/access?resource_type=experiment&resource=no-such-thing")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("no-such-thing")
    response = page.goto("/ldap-admin/access?resource_type=bogus&resource=1")
    assert response.status == 400


def test_names_next_to_ids_and_deleted_resources(page, server, world):
    page.goto("/ldap-admin/")
    fraud_row = page.locator("tr", has_text=f"{world['fraud-detection']} fraud-detection").first
    expect(fraud_row).to_be_visible()
    gone = page.locator("tr", has_text=world["short-lived"])
    expect(gone.locator(".tag")).to_have_text("deleted")
    page.goto("/ldap-admin/users?username=alice")
    expect(page.locator("td", has_text="fraud-detection")).to_be_visible()
    for width in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": 900})
        assert fits(page), f"sideways scrolling at {width} px"
    fraud = page.locator("tr", has_text="fraud-detection")
    fraud.get_by_role("link", name="who else").click()
    expect(page.locator("#access-answer h2")).to_contain_text("fraud-detection")


def test_add_a_mapping_after_seeing_who_gains_what(page, server, world):
    experiment_id = world["fraud-detection"]
    page.goto("/ldap-admin/mappings/new?q=mlflow-users")
    page.get_by_role("link", name="mlflow-users").click()
    # Find the experiment by name instead of typing its id.
    search = page.get_by_label("whose name contains")
    if page.js:
        # The live search's own request answered first, then its results on the page.
        answer = answer_to(page, "/resources.json", lambda: search.fill("FRAUD"))
        assert answer.ok and len(answer.json()["resources"]) == 2
        results = page.locator("#resource-results a")
        expect(results).to_have_count(2)  # fraud-detection and the one with markup in its name
        expect(page.locator("#resource-results")).to_contain_text("fraud-<b>bold</b>")
        results.filter(has_text="fraud-detection").click()
    else:
        search.fill("FRAUD")
        page.get_by_role("button", name="Search MLflow").click()
        expect(page.locator("#resource-results")).to_contain_text("fraud-<b>bold</b>")
        page.locator("#resource-results a", has_text="fraud-detection").click()
        page.get_by_label("Group DN").fill(USERS_DN)
    expect(page.get_by_label("Resource pattern")).to_have_value(experiment_id)
    page.get_by_label("Permission").select_option("USE")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
    preview = page.locator(".preview")
    # mlflow-users: alice, bob, carol, jsmith, admin. alice keeps EDIT (higher), bob
    # keeps DENY, carol and the break-glass "admin" are admins: only jsmith gains.
    expect(preview).to_have_attribute("data-members", "5")
    expect(preview.locator("li")).to_have_count(1)
    expect(preview).to_contain_text("jsmith")
    expect(preview).to_contain_text("NO_PERMISSIONS")
    before = rest(server, "GET", API + "/group-mappings")["group_mappings"]
    if page.js:
        page.set_viewport_size({"width": 390, "height": 900})
        assert fits(page)
        shot(page, "add-mapping-preview-narrow")
        page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Added: members of cn=mlflow-users")
    after = rest(server, "GET", API + "/group-mappings")["group_mappings"]
    assert len(after) == len(before) + 1
    answer = rest(
        server,
        "GET",
        API + "/access",
        params={"resource_type": "experiment", "resource": experiment_id},
    )
    people = {e["user"]: e["permission"] for e in answer["entries"]}
    assert people["jsmith"] == "USE" and people["alice"] == "EDIT" and people["bob"] == "DENY"

    # Deleting it shows who loses what, and the numbers are the preview's.
    new = next(m for m in after if m not in before)
    page.goto(f"/ldap-admin/mappings/{new['id']}/delete")
    preview = page.locator(".preview")
    expect(preview).to_have_attribute("data-members", "5")
    expect(preview.locator("li")).to_have_count(1)
    expect(preview.locator(".change-loss").first).to_contain_text("USE → NO_PERMISSIONS (no route)")
    if page.js:
        shot(page, "delete-preview")
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")
    assert rest(server, "GET", API + "/group-mappings")["group_mappings"] == before


def test_change_it_goes_back_to_the_form_with_the_values(page, world):
    page.goto(f"/ldap-admin/mappings/new?group={USERS_DN}")
    page.get_by_label("Resource pattern").fill("fraud-detection")  # a name: becomes the id
    page.get_by_label("Permission").select_option("READ")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
    expect(page.locator("dd", has_text="fraud-detection")).to_contain_text(world["fraud-detection"])
    page.get_by_role("button", name="Change it").click()
    expect(page.get_by_label("Group DN")).to_have_value(USERS_DN)
    expect(page.get_by_label("Resource pattern")).to_have_value(world["fraud-detection"])


def test_the_preview_refuses_what_save_would_refuse(page, world):
    page.goto(f"/ldap-admin/mappings/new?group={DATA_SCIENCE_DN}")
    page.get_by_label("Resource pattern").fill(world["fraud-detection"])
    page.get_by_label("Permission").select_option("READ")  # data-science already has EDIT
    page.get_by_role("button", name="Add mapping").click()
    expect(page.locator("#resource_pattern-error")).to_contain_text("already has a mapping")


def test_confirming_needs_the_csrf_token(server, world):
    before = rest(server, "GET", API + "/group-mappings")["group_mappings"]
    session = requests.Session()
    session.auth = CAROL
    form = {
        "group": USERS_DN,
        "resource_type": "experiment",
        "resource_pattern": world["fraud-detection"],
        "permission": "MANAGE",
        "workspace": "default",
        "confirm": "yes",
    }
    response = session.post(server.url + "/ldap-admin/mappings/new", data=form, timeout=30)
    assert response.status_code == 400 and "Form expired or forged" in response.text
    assert rest(server, "GET", API + "/group-mappings")["group_mappings"] == before


def test_a_resource_name_that_names_nothing_is_refused_at_the_pattern(page, world):
    page.goto(f"/ldap-admin/mappings/new?group={USERS_DN}")
    page.get_by_label("Resource pattern").fill("no-such-experiment")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.locator("#resource_pattern-error")).to_contain_text("no-such-experiment")
    expect(page.get_by_role("heading", name="Save this mapping?")).to_have_count(0)
