"""The trust rules of docs/security.md against a real two-worker
``mlflow server --app-name ldap-auth``.

The module has its own slapd, so it can add look-alike groups, throwaway users and
failed binds without disturbing the other modules. A second server shares the first
one's database for the rules that hold "across servers".
"""

import base64
import json
import os
import random
import re
import time
from pathlib import Path

import pytest
import requests

from servers import (
    ADMIN_PASSWORD,
    CAROL,
    GROUPS_DN,
    PEOPLE_DN,
    add_person,
    audit_lines,
    basic_header,
    ldap_config,
    run_cli,
    slapd_barrier,
    slapd_count,
    start_server,
    wait_for_audit,
)

BASE_DN = "dc=example,dc=org"
ADMINS_DN = f"cn=mlflow-admins,{GROUPS_DN}"
USERS_DN = f"cn=mlflow-users,{GROUPS_DN}"
DATA_SCIENCE_DN = f"cn=data-science,{GROUPS_DN}"
API = "/api/2.0/mlflow/ldap-auth"
EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"
BREAK_GLASS = ("admin", ADMIN_PASSWORD)
FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"  # looks like "admin"


@pytest.fixture(scope="module")
def directory(own_slapd):
    return own_slapd


@pytest.fixture(scope="module")
def config(directory, tmp_path_factory):
    # group_search_base is the whole tree, as many sites configure it: a group outside
    # ou=groups is found too, so look-alike DNs are a real threat here.
    return ldap_config(
        tmp_path_factory.mktemp("trust"),
        directory.ldap_uri,
        # Every DN as AD tools and hand-written files spell them: other case, spaces
        # around "," and "=" (ldap3 itself refuses such a search base or bind DN).
        bind_dn="CN=mlflow-service, OU=Services, DC=Example, DC=Org",
        user_search_base="OU=People, DC=Example, DC=Org",
        group_search_base="DC=Example, DC=Org",
        admin_groups="CN=MLflow-Admins, OU=Groups, DC=Example, DC=Org",
        allowed_groups="cn = mlflow-users , ou=groups,dc=example,dc=org",
    )


@pytest.fixture(scope="module")
def server(config, tmp_path_factory):
    with start_server(tmp_path_factory, config=config, workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def second_server(config, server, tmp_path_factory):
    """Another server on the same auth database (as behind a load balancer)."""
    with start_server(tmp_path_factory, config=config, name="second") as running:
        yield running


def get(server, path=EXPERIMENT_0, auth=None, headers=None):
    return requests.get(server.url + path, auth=auth, headers=headers, timeout=30)


def bind_needle(uid: str) -> str:
    return f'BIND dn="uid={uid},{PEOPLE_DN}" method=128'


def logged_in_on_every_worker(server, auth, tries: int = 80) -> set[int]:
    """Repeat fresh-connection requests until each worker has checked ``auth`` itself."""
    workers: set[int] = set()
    for _ in range(tries):
        assert get(server, auth=auth).status_code == 200
        workers = {
            line["worker"] for line in audit_lines(server, result="success", user=auth[0].lower())
        }
        if len(workers) >= server.workers:
            return workers
    raise AssertionError(f"{auth[0]} was served by workers {workers} only")


def is_admin(server, username: str) -> bool:
    response = get(server, f"/api/2.0/mlflow/users/get?username={username}", auth=BREAK_GLASS)
    assert response.status_code == 200, response.text
    return response.json()["user"]["is_admin"]


# -- break-glass admin ----------------------------------------------------------------


def test_break_glass_name_is_compared_after_nfkc_and_casefold(server):
    # slapd itself folds full-width letters: (uid=<full-width admin>) finds uid=admin, a
    # directory user with the break-glass name. Such a login is the break-glass account's,
    # checked against its local password only.
    directory_admin = basic_header(f"{FULLWIDTH_ADMIN}:admin-directory-password".encode())
    assert get(server, headers=directory_admin).status_code == 401
    shouted = basic_header(f"{FULLWIDTH_ADMIN.upper()}:{ADMIN_PASSWORD}".encode())
    who = get(server, "/api/2.0/mlflow/users/current", headers=shouted)
    assert who.status_code == 200, who.text
    assert who.json()["user"]["username"] == "admin"


def test_only_the_break_glass_admin_rotates_its_password_at_once_everywhere(server, second_server):
    logged_in_on_every_worker(server, BREAK_GLASS)
    assert get(second_server, auth=BREAK_GLASS).status_code == 200
    update = server.url + "/api/2.0/mlflow/users/update-password"
    # A directory admin is an MLflow admin, but may not take over the break-glass account.
    taken = requests.patch(
        update, json={"username": "admin", "password": "carols-own-pick-1"}, auth=CAROL, timeout=30
    )
    assert taken.status_code == 403, taken.text
    assert get(server, auth=BREAK_GLASS).status_code == 200

    new_password = "rotated-break-glass-77"
    changed = requests.patch(
        update,
        json={"username": "admin", "password": new_password, "current_password": ADMIN_PASSWORD},
        auth=BREAK_GLASS,
        timeout=30,
    )
    assert changed.status_code == 200, changed.text
    try:
        # At once on every worker of this server (fresh connections spread over both).
        assert [get(server, auth=BREAK_GLASS).status_code for _ in range(16)] == [401] * 16
        assert [get(server, auth=("admin", new_password)).status_code for _ in range(8)] == [
            200
        ] * 8
        # Within permission_cache_ttl_seconds (10) on another server sharing the database.
        deadline = time.monotonic() + 11
        while get(second_server, auth=BREAK_GLASS).status_code != 401:
            assert time.monotonic() < deadline, "old password still accepted by the other server"
            time.sleep(0.5)
        changes = audit_lines(server, event="break_glass_password_changed")
        assert len(changes) == 1
        assert changes[0]["user"] == "admin" and changes[0]["result"] == "success"
    finally:
        restored = requests.patch(
            update,
            json={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "current_password": new_password,
            },
            auth=("admin", new_password),
            timeout=30,
        )
        assert restored.status_code == 200, restored.text


# -- look-alike groups ----------------------------------------------------------------


def test_look_alike_admin_and_allowed_groups_grant_nothing(server, directory):
    # One multi-valued RDN "cn=...+ou=groups" under dc=example,dc=org: a different entry
    # from cn=...,ou=groups,dc=example,dc=org, which a string rewrite made equal.
    mallory = add_person(directory, "mallory", "mallory-password")
    trudy = add_person(directory, "trudy", "trudy-password", [USERS_DN])
    for cn in ("mlflow-admins", "mlflow-users"):
        directory.ldif(
            "ldapadd",
            f"dn: cn={cn}+ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: {cn}\n"
            f"ou: groups\nmember: {mallory}\nmember: {trudy}\n",
        )
    # Only in the look-alike users group: not allowed in.
    assert get(server, auth=("mallory", "mallory-password")).status_code == 403
    # In the real users group, and only in the look-alike admins group: no admin flag.
    assert get(server, auth=("trudy", "trudy-password")).status_code == 200
    assert is_admin(server, "trudy") is False
    assert get(server, auth=CAROL).status_code == 200
    assert is_admin(server, "carol") is True


# -- password spraying ----------------------------------------------------------------


def spray(server, uid: str, count: int, tag: str) -> list[int]:
    return [get(server, auth=(uid, f"guess-{tag}-{n}")).status_code for n in range(count)]


def test_password_spraying_reaches_the_directory_at_most_threshold_times(server, directory):
    add_person(directory, "spray", "spray-password", [USERS_DN])
    logged_in_on_every_worker(server, ("spray", "spray-password"))
    before = slapd_count(directory, bind_needle("spray"))
    assert spray(server, "spray", 12, "a") == [401] * 12
    slapd_barrier(directory)  # every bind slapd was sent is in its log now
    # lockout_threshold defaults to 3: the other 9 guesses never reached slapd.
    assert slapd_count(directory, bind_needle("spray")) - before == 3
    throttled = audit_lines(server, reason="throttled")
    assert len(throttled) == 9 and {line["user"] for line in throttled} == {"spray"}
    # The password each worker already holds as correct keeps working.
    assert [get(server, auth=("spray", "spray-password")).status_code for _ in range(8)] == [
        200
    ] * 8


def test_a_fresh_correct_password_waits_out_the_lockout_too(server, directory):
    add_person(directory, "spray2", "spray2-password", [USERS_DN])
    assert spray(server, "SPRAY2", 3, "b") == [401] * 3  # spellings count as one account
    before = slapd_count(directory, bind_needle("spray2"))
    throttled = len(audit_lines(server, user="spray2", reason="throttled"))
    assert get(server, auth=("spray2", "spray2-password")).status_code == 401
    # The server answered it as throttled, and slapd has logged everything it was sent.
    wait_for_audit(server, after=throttled, user="spray2", reason="throttled")
    slapd_barrier(directory)
    assert slapd_count(directory, bind_needle("spray2")) == before


def test_failed_binds_are_counted_across_servers_sharing_the_database(
    server, second_server, directory
):
    add_person(directory, "spray3", "spray3-password", [USERS_DN])
    before = slapd_count(directory, bind_needle("spray3"))
    statuses = spray(server, "spray3", 2, "c") + spray(second_server, "spray3", 4, "d")
    assert statuses == [401] * 6
    slapd_barrier(directory)
    assert slapd_count(directory, bind_needle("spray3")) - before == 3


def server_rss_kib(server) -> int:
    """Resident memory of every process of ``server`` (its process groups)."""
    total = 0
    groups = server.process_groups()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) not in groups:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # the process ended meanwhile
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total


def test_a_retry_storm_keeps_server_memory_flat(server, directory):
    add_person(directory, "storm", "storm-password", [USERS_DN])
    stale = ("storm", "a-password-from-last-quarter")

    def retry(count):
        for _ in range(count):
            assert get(server, auth=stale).status_code == 401

    retry(200)  # warm up: the refusal is cached, allocator pools are in use
    before = server_rss_kib(server)
    retry(1500)
    growth = server_rss_kib(server) - before
    # Remembering the exception itself kept ~14 KiB per retry here (21 MiB for 1,500).
    assert growth < 4 * 1024, f"{growth} KiB more after 1,500 refused retries"


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["pass\x01word", "tab\tinside", "new\nline", "nul\x00char", "\x7f", "\ud800"]
)
def test_control_characters_in_the_password_are_401_not_500(server, password):
    raw = b"alice:" + password.encode("utf-8", "surrogatepass")
    response = get(server, headers=basic_header(raw))
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'


def test_invisible_format_characters_in_the_username_never_reach_the_directory(server, directory):
    for login in ("alice\u200b", "\u2060alice", "al\u200dice", "alice\ufeff"):
        searches = slapd_count(directory, "SRCH base=")
        refusals = len(audit_lines(server, user=login, reason="malformed_username"))
        response = get(server, headers=basic_header(f"{login}:alice-password".encode()))
        assert response.status_code == 401, login
        # Refused for its format character, and slapd has logged everything it was sent.
        wait_for_audit(server, after=refusals, user=login, reason="malformed_username")
        slapd_barrier(directory)
        assert slapd_count(directory, "SRCH base=") == searches, login


def test_fuzzed_authorization_headers_never_get_5xx(server):
    rng = random.Random(20261202)
    users = ["fuzz", "alice", "", "admin", "a" * 300]
    statuses = []
    for n in range(240):
        kind = n % 4
        if kind == 0:  # any bytes as user:password
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            headers = basic_header(raw)
        elif kind == 1:  # a real user, a password of any bytes
            pw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            headers = basic_header(rng.choice(users).encode() + b":" + pw)
        elif kind == 2:  # a header value that is not base64 at all
            junk = "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(0, 80)))
            headers = {"Authorization": rng.choice(["Basic ", "basic ", "", "Digest "]) + junk}
        else:  # long and odd: up to 9 KiB of base64
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 7000)))
            headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        statuses.append(get(server, headers=headers).status_code)
    assert set(statuses) <= {400, 401, 403}, sorted(set(statuses))
    assert "Traceback" not in server.log()


# -- FastAPI routes -------------------------------------------------------------------


def test_audit_lines_of_fastapi_routes_carry_the_client_address(server):
    response = requests.post(
        server.url + "/v1/traces",
        data=b"",
        headers={"X-Mlflow-Experiment-Id": "0"},
        auth=("alice", "not-alices-password-9"),
        timeout=30,
    )
    assert response.status_code == 401
    refused = audit_lines(server, user="alice", result="refused")
    assert refused and refused[-1]["source"] == "127.0.0.1"


# -- mappings -------------------------------------------------------------------------


def mapping_request(server, body):
    return requests.post(server.url + f"{API}/group-mappings", json=body, auth=CAROL, timeout=30)


def test_mapping_whose_uuid_names_another_group_is_refused(server):
    listed = get(server, f"{API}/group-mappings", auth=CAROL).json()["group_mappings"]
    created = mapping_request(
        server, {"group": DATA_SCIENCE_DN, "permission": "READ", "resource_type": "experiment"}
    )
    assert created.status_code == 200, created.text
    science_uuid = created.json()["group_mapping"]["group_uuid"]
    deleted = requests.delete(
        server.url + f"{API}/group-mappings/{created.json()['group_mapping']['id']}",
        auth=CAROL,
        timeout=30,
    )
    assert deleted.status_code == 200, deleted.text
    mismatch = mapping_request(
        server,
        {
            "group": ADMINS_DN,
            "group_uuid": science_uuid,
            "permission": "MANAGE",
            "resource_type": "admin",
        },
    )
    assert mismatch.status_code == 400, mismatch.text
    assert mismatch.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    after = get(server, f"{API}/group-mappings", auth=CAROL).json()["group_mappings"]
    assert after == listed


@pytest.mark.parametrize("target", [f"uid=alice,{PEOPLE_DN}", f"ou=people,{BASE_DN}"])
def test_mapping_to_an_entry_that_is_not_a_group_is_refused(server, target):
    response = mapping_request(
        server, {"group": target, "permission": "READ", "resource_type": "experiment"}
    )
    assert response.status_code == 400, response.text
    assert "not a group" in response.json()["message"]


# -- headers --------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{API}/status", f"{API}/group-mappings", "/ldap-admin/"])
def test_plugin_answers_are_not_stored_by_caches(server, path):
    response = get(server, path, auth=CAROL)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    refused = get(server, path)
    assert refused.status_code == 401
    assert refused.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "origin", ["http://localhost:8000", "http://127.0.0.1:1", "https://evil.example", "null"]
)
def test_foreign_origins_are_refused_on_plugin_paths(server, origin):
    for method, path in (("POST", f"{API}/cache/flush"), ("GET", f"{API}/group-mappings")):
        response = requests.request(
            method, server.url + path, auth=CAROL, headers={"Origin": origin}, timeout=30
        )
        assert response.status_code == 403, (method, path, response.text)
    page = get(server, "/ldap-admin/", auth=CAROL, headers={"Origin": origin})
    assert page.status_code == 403


def test_same_origin_requests_are_served(server):
    response = requests.post(
        server.url + f"{API}/cache/flush", auth=CAROL, headers={"Origin": server.url}, timeout=30
    )
    assert response.status_code == 200, response.text


def test_session_cookie_is_samesite_lax(server):
    response = get(server, "/ldap-admin/mappings/new", auth=CAROL)
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert re.search(r"(?i)samesite=lax", cookie), cookie
    assert "secure" not in cookie.lower()  # plain HTTP here; behind HTTPS it is Secure
    behind_tls = get(
        server, "/ldap-admin/mappings/new", auth=CAROL, headers={"X-Forwarded-Proto": "https"}
    )
    assert "secure" in behind_tls.headers["Set-Cookie"].lower()


# -- DNs as operators type them, unknown ids, grants before the first login -----------


@pytest.mark.parametrize(
    "spelling",
    [
        "CN=Data-Science, OU=Groups, DC=Example, DC=Org",
        "cn = data-science , ou = groups , dc = example , dc = org",
        "2.5.4.3=data-science,ou=groups,dc=example,dc=org",
    ],
)
def test_a_group_dn_in_any_spelling_is_the_same_group(server, spelling):
    body = {"permission": "READ", "resource_type": "registered_model"}
    first = mapping_request(server, {**body, "group": DATA_SCIENCE_DN})
    assert first.status_code == 200, first.text
    mapping = first.json()["group_mapping"]
    try:
        again = mapping_request(server, {**body, "group": spelling})
        assert again.status_code == 400, again.text  # the same group: already mapped
        assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    finally:
        requests.delete(
            server.url + f"{API}/group-mappings/{mapping['id']}", auth=CAROL, timeout=30
        )
    created = mapping_request(server, {**body, "group": spelling})
    assert created.status_code == 200, created.text
    assert created.json()["group_mapping"]["group_uuid"] == mapping["group_uuid"]
    requests.delete(
        server.url + f"{API}/group-mappings/{created.json()['group_mapping']['id']}",
        auth=CAROL,
        timeout=30,
    )


def test_a_mappings_file_with_ad_tool_spellings_resolves(server, config, tmp_path):
    document = {
        "version": 1,
        "group_mappings": [
            {
                "group": "CN=Data-Science, OU=Groups, DC=Example, DC=Org",
                "resource_type": "experiment",
                "permission": "READ",
            }
        ],
    }
    path = tmp_path / "mappings.json"
    path.write_text(json.dumps(document))
    result = run_cli(config, "mappings", "import", str(path), "--dry-run", config_in_env=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"+ {DATA_SCIENCE_DN}: READ on experiment '*'" in result.stdout


@pytest.mark.parametrize(
    "mapping_id", ["987654321", "grant-987654321", "admin-0", "grant-", "no such id", "%2e%2e"]
)
def test_deleting_an_unknown_mapping_is_404(server, mapping_id):
    response = requests.delete(
        server.url + f"{API}/group-mappings/{mapping_id}", auth=CAROL, timeout=30
    )
    assert response.status_code == 404, response.text
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_admins_can_grant_before_the_first_login(server, directory):
    add_person(directory, "newbie", "newbie-password", [USERS_DN])
    users = server.url + "/api/2.0/mlflow/users/get"
    fetched = requests.get(users, params={"username": "newbie"}, auth=CAROL, timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["user"]["is_admin"] is False
    granted = requests.post(
        server.url + "/api/3.0/mlflow/users/permissions/grant",
        json={
            "username": "newbie",
            "resource_type": "experiment",
            "resource_id": "0",
            "permission": "EDIT",
        },
        auth=CAROL,
        timeout=30,
    )
    assert granted.status_code == 200, granted.text
    provisioned = audit_lines(server, event="user_provisioned")
    assert [line["user"] for line in provisioned] == ["newbie"]
    # The grant is there at the first login.
    assert get(server, auth=("newbie", "newbie-password")).status_code == 200
    # Not in the directory: MLflow's own 404.
    nobody = requests.get(users, params={"username": "nobody-here"}, auth=CAROL, timeout=30)
    assert nobody.status_code == 404
    assert nobody.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_only_admins_trigger_provisioning(server, directory):
    add_person(directory, "newbie2", "newbie2-password", [USERS_DN])
    response = requests.get(
        server.url + "/api/2.0/mlflow/users/get",
        params={"username": "newbie2"},
        auth=("alice", "alice-password"),
        timeout=30,
    )
    assert response.status_code in (403, 404)
    assert not audit_lines(server, user="newbie2")


def test_the_stylesheet_is_public_and_nothing_else_is_reachable_through_it(server):
    css = get(server, "/ldap-admin/static/admin.css")
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    for path in ("/ldap-admin/static/%2e%2e/app.py", "/ldap-admin/static/..%2fREADME.md"):
        assert get(server, path).status_code == 404, path


def check_user(config, username: str) -> str:
    result = run_cli(config, "check", "--user", username, config_in_env=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_check_command_takes_the_servers_own_access_decision(server, config):
    assert "  admin: no" in check_user(config, "alice")
    assert "  admin: yes" in check_user(config, "carol")  # admin_groups (AD-tool spelling)
    created = mapping_request(
        server, {"group": DATA_SCIENCE_DN, "permission": "MANAGE", "resource_type": "admin"}
    )
    assert created.status_code == 200, created.text
    try:
        assert "  admin: yes" in check_user(config, "alice")  # through the admin mapping
        lookup = get(server, f"{API}/users/alice", auth=CAROL).json()["user"]
        assert lookup["admin"] is True
    finally:
        requests.delete(
            server.url + f"{API}/group-mappings/{created.json()['group_mapping']['id']}",
            auth=CAROL,
            timeout=30,
        )
    assert "  admin: no" in check_user(config, "alice")
