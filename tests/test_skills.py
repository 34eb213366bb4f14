"""Skills (MLflow 3.18's Skill Registry) mapped, named and searched, against a real slapd
and a real ``mlflow server``; the admin form in a real headless Chromium.

A skill's grant key is ``name`` or ``@organization/name`` (MLflow's own format). The
skills are made through MLflow's REST API by an admin, as a person would.
"""

import pytest
import requests
from mlflow.version import VERSION
from packaging.version import Version
from playwright.sync_api import expect

from browser import answer_to, basic_auth, patient
from servers import CAROL, DATA_SCIENCE_DN, PASSWORDS, SlapdInstance, client_as, start_server

pytestmark = pytest.mark.skipif(
    Version(VERSION) < Version("3.18"),
    reason=f"MLflow {VERSION} has no skills: the Skill Registry came with MLflow 3.18",
)

API = "/api/2.0/mlflow/ldap-auth"
SKILLS = "/api/3.0/mlflow/skills"


@pytest.fixture(scope="module")
def directory():
    with SlapdInstance() as instance:
        yield instance


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    with start_server(
        tmp_path_factory, directory, name="skills", mlflow={"default_permission": "NO_PERMISSIONS"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def skills(server):
    """``myskill`` (no organization), ``@acme/summarise`` and ``@acme/translate``;
    data-science may EDIT ``myskill`` (a mapping made through the REST API)."""
    for body in (
        {"name": "myskill"},
        {"name": "summarise", "organization": "acme"},
        {"name": "translate", "organization": "acme"},
    ):
        response = requests.post(server.url + SKILLS, json=body, auth=CAROL, timeout=60)
        assert response.status_code == 200, response.text
    with client_as(server, *CAROL, app=True) as client:
        mapping = client.create_group_mapping(DATA_SCIENCE_DN, "EDIT", "skill", "myskill")
    return {"mapping": mapping}


def alice_reads_skill(server, key: str) -> int:
    return requests.get(
        f"{server.url}{SKILLS}/{key}", auth=("alice", PASSWORDS["alice"]), timeout=60
    ).status_code


def access(server, resource, resource_type="skill"):
    return requests.get(
        server.url + API + "/access",
        params={"resource_type": resource_type, "resource": resource},
        auth=CAROL,
        timeout=60,
    )


@pytest.fixture
def admin_page(browser, server):
    context = patient(
        browser.new_context(
            extra_http_headers=basic_auth({"username": CAROL[0], "password": CAROL[1]}),
            base_url=server.url,
        )
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def admin_page_without_js(browser, server):
    context = patient(
        browser.new_context(
            extra_http_headers=basic_auth({"username": CAROL[0], "password": CAROL[1]}),
            base_url=server.url,
            java_script_enabled=False,
        )
    )
    yield context.new_page()
    context.close()


def test_the_add_form_finds_a_skill_and_its_mapping_gives_access(admin_page, server, skills):
    page = admin_page
    assert alice_reads_skill(server, "@acme/summarise") == 403
    page.goto("/ldap-admin/mappings/new?q=data")
    page.get_by_role("link", name="data-science").click()
    # The group's page has loaded, and its script listens to the search box: typed
    # before that, the text would ask nothing.
    expect(page.get_by_label("Group DN")).to_have_value(DATA_SCIENCE_DN)
    page.wait_for_load_state("load")
    page.locator("#rtype").select_option(label="skills")
    search = page.get_by_label("whose name contains")
    # By the organization or by the name: the text is found anywhere in the key.
    answer = answer_to(page, "/resources.json", lambda: search.fill("ACME/"))
    assert [r["pattern"] for r in answer.json()["resources"]] == [
        "@acme/summarise",
        "@acme/translate",
    ]
    answer = answer_to(page, "/resources.json", lambda: search.fill("summ"))
    assert answer.json()["resources"] == [
        {"resource_type": "skill", "pattern": "@acme/summarise", "name": "@acme/summarise"}
    ]
    page.locator("#resource-results a", has_text="@acme/summarise").click()
    expect(page.get_by_label("Resource type")).to_have_value("skill")
    expect(page.get_by_label("Resource pattern")).to_have_value("@acme/summarise")
    # MLflow's Skill Registry grants take no USE.
    expect(page.locator("#permission option[value=USE]")).to_be_disabled()
    page.get_by_label("Permission").select_option("READ")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
    expect(page.locator(".preview")).to_contain_text("alice")
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Added: members of cn=data-science")

    row = page.locator("tr", has=page.locator("code", has_text="@acme/summarise"))
    expect(row).to_contain_text("skill")
    expect(row.locator(".tag")).to_have_count(0)  # it exists: not marked deleted
    assert alice_reads_skill(server, "@acme/summarise") == 200

    row.get_by_role("link", name="Who has access").click()
    answer = page.locator("#access-answer")
    expect(answer.get_by_role("heading")).to_contain_text("skill @acme/summarise")
    expect(answer.locator("tr[data-user=alice]")).to_have_attribute("data-permission", "READ")

    page.goto("/ldap-admin/")
    row = page.locator("tr", has=page.locator("code", has_text="@acme/summarise"))
    row.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")


def test_who_has_access_names_a_skill_typed_as_an_admin_types_it(server, skills):
    for spelling in ("myskill", " myskill "):
        response = access(server, spelling)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["resource"] == {
            "type": "skill",
            "id": "myskill",
            "name": "myskill",
            "workspace": "default",
        }
        people = {entry["user"]: entry for entry in body["entries"]}
        assert people["alice"]["permission"] == "EDIT"
    organized = access(server, "@acme/translate").json()["resource"]
    assert (organized["id"], organized["name"]) == ("@acme/translate", "@acme/translate")


@pytest.mark.parametrize(
    ("spelling", "status", "code", "message"),
    [
        ("no-such-skill", 404, "RESOURCE_DOES_NOT_EXIST", "No skill 'no-such-skill'"),
        ("@acme/no-such-skill", 404, "RESOURCE_DOES_NOT_EXIST", "No skill '@acme/no-such-skill'"),
        ("@acme", 400, "INVALID_PARAMETER_VALUE", "'@acme' is not a skill"),
        ("@/myskill", 400, "INVALID_PARAMETER_VALUE", "@organization/name"),
        ("acme/myskill", 400, "INVALID_PARAMETER_VALUE", "@organization/name"),
    ],
)
def test_who_has_access_answers_an_unknown_or_malformed_skill(
    server, skills, spelling, status, code, message
):
    response = access(server, spelling)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    assert message in response.json()["message"]


def test_the_mappings_list_marks_a_mapped_skill_that_does_not_exist(admin_page, server, skills):
    with client_as(server, *CAROL, app=True) as client:
        ahead = client.create_group_mapping(DATA_SCIENCE_DN, "READ", "skill", "@acme/not-yet")
    try:
        page = admin_page
        page.goto("/ldap-admin/")
        missing = page.locator("tr", has=page.locator("code", has_text="@acme/not-yet"))
        expect(missing.locator(".tag")).to_have_text("deleted")
        present = page.locator("tr", has=page.locator("code", has_text="myskill"))
        expect(present).to_contain_text("skill")
        expect(present.locator(".tag")).to_have_count(0)
    finally:
        with client_as(server, *CAROL, app=True) as client:
            client.delete_group_mapping(ahead["id"])


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("@acme", "'@acme' is not a skill"),
        ("MySkill", "lowercase"),
    ],
)
def test_a_skill_key_no_skill_can_have_is_refused_next_to_the_pattern(
    admin_page_without_js, skills, typed, error
):
    page = admin_page_without_js
    page.goto(f"/ldap-admin/mappings/new?group={DATA_SCIENCE_DN}")
    page.get_by_label("Resource type").select_option("skill")
    page.get_by_label("Resource pattern").fill(typed)
    page.get_by_label("Permission").select_option("READ")
    answer = answer_to(
        page, "/mappings/new", lambda: page.get_by_role("button", name="Add mapping").click()
    )
    assert answer.status == 400
    expect(page.locator("#resource_pattern-error")).to_contain_text(error)


def test_a_skill_typed_with_spaces_is_mapped_under_mlflows_key(admin_page_without_js, skills):
    page = admin_page_without_js
    page.goto(f"/ldap-admin/mappings/new?group={DATA_SCIENCE_DN}")
    page.get_by_label("Resource type").select_option("skill")
    page.get_by_label("Resource pattern").fill("  @acme/translate ")
    page.get_by_label("Permission").select_option("MANAGE")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("heading", name="Save this mapping?")).to_be_visible()
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("MANAGE on skill @acme/translate")
    row = page.locator("tr", has=page.locator("code", has_text="@acme/translate"))
    row.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the mapping")
