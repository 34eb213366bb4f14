"""Active Directory: a real Samba AD DC, a real `mlflow server --app-name ldap-auth`."""

import ssl

import ldap3
import pytest
import requests

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.ldap.directory import Directory
from samba_dc import ADMIN_PASSWORD, BASE_DN, PASSWORD, USERS_DN, SambaDC, ad_settings, lock_out
from servers import audit_lines, flush_caches, ldap_config, run_cli, start_server, wait_until

COMMA_GROUP_DN = f"CN=Data\\, Science,{USERS_DN}"
API = "/api/2.0/mlflow/ldap-auth"
ADMIN = ("carol", PASSWORD)
EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"


@pytest.fixture(scope="module")
def dc():
    instance = SambaDC().start()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def config(dc, tmp_path_factory):
    return ldap_config(
        tmp_path_factory.mktemp("ad"),
        dc.ldaps_uri,
        mlflow={"default_permission": "NO_PERMISSIONS"},
        **ad_settings(dc.ca_cert_file),
    )


@pytest.fixture(scope="module")
def server(config, tmp_path_factory):
    with start_server(tmp_path_factory, config=config, name="ad") as running:
        yield running


def get(server, path, auth):
    return requests.get(server.url + path, auth=auth, timeout=30)


def create_experiment(server, name) -> str:
    response = requests.post(
        server.url + "/api/2.0/mlflow/experiments/create",
        json={"name": name},
        auth=ADMIN,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["experiment_id"]


def map_group(server, group, experiment_id, permission):
    response = requests.post(
        server.url + API + "/group-mappings",
        auth=ADMIN,
        timeout=30,
        json={
            "group": group,
            "resource_type": "experiment",
            "resource_pattern": experiment_id,
            "permission": permission,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["group_mapping"]


def audit_reasons(server, user) -> set[str]:
    return {line["reason"] for line in audit_lines(server, user=user)}


def test_every_login_form_is_one_mlflow_user(server):
    for login in ("alice", "ALICE", "alice@corp.example.com", "CORP\\alice", "corp\\ALICE"):
        response = get(server, "/api/2.0/mlflow/users/current", auth=(login, PASSWORD))
        assert response.status_code == 200, (login, response.text)
        assert response.json()["user"]["username"] == "alice"
    users = get(server, "/api/2.0/mlflow/users/list", auth=ADMIN).json()["users"]
    assert [u["username"].lower() for u in users].count("alice") == 1
    assert get(server, "/api/2.0/mlflow/users/current", auth=ADMIN).json()["user"]["is_admin"]


def test_nested_and_large_groups_grant_the_mapped_permission(server):
    nested_exp = create_experiment(server, "via-level-3")
    big_exp = create_experiment(server, "via-big-group")
    map_group(server, f"CN=level-3,{USERS_DN}", nested_exp, "READ")
    map_group(server, f"CN=big-group,{USERS_DN}", big_exp, "EDIT")
    flush_caches(server, ADMIN)
    alice = ("alice", PASSWORD)
    read = get(server, f"/api/2.0/mlflow/experiments/get?experiment_id={nested_exp}", alice)
    assert read.status_code == 200  # alice -> level-1 -> level-2 -> level-3
    run = requests.post(
        server.url + "/api/2.0/mlflow/runs/create",
        auth=alice,
        timeout=30,
        json={"experiment_id": big_exp},
    )
    assert run.status_code == 200, run.text  # big-group has 1,601 members
    bob = ("bob", PASSWORD)
    assert (
        get(server, f"/api/2.0/mlflow/experiments/get?experiment_id={nested_exp}", bob).status_code
        == 403
    )
    explained = get(server, API + "/users/alice", ADMIN).json()["user"]
    assert f"CN=level-3,{USERS_DN}" in explained["groups"]["nested"]
    assert f"CN=level-1,{USERS_DN}" in explained["groups"]["direct"]
    assert {"group": f"CN=level-3,{USERS_DN}", "via": f"CN=level-2,{USERS_DN}"} in explained[
        "nesting"
    ]


def test_group_with_a_comma_in_its_cn(server):
    experiment = create_experiment(server, "comma-group")
    mapping = map_group(server, COMMA_GROUP_DN, experiment, "READ")
    assert mapping["group"] == COMMA_GROUP_DN and mapping["group_name"] == "Data, Science"
    flush_caches(server, ADMIN)
    assert (
        get(
            server, f"/api/2.0/mlflow/experiments/get?experiment_id={experiment}", ("bob", PASSWORD)
        ).status_code
        == 200
    )
    explained = get(server, API + "/users/bob", ADMIN).json()["user"]
    assert COMMA_GROUP_DN in explained["groups"]["direct"]
    page = get(server, "/ldap-admin/mappings/new?q=Data", ADMIN)
    assert page.status_code == 200 and "Data, Science" in page.text
    listing = get(server, "/ldap-admin/", ADMIN)
    assert "CN=Data\\, Science" in listing.text


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("dora", "account_disabled"),
        ("ed", "account_expired"),
        ("max", "must_change_password"),
    ],
)
def test_account_states_are_refused_with_their_logged_reason(server, user, reason):
    response = get(server, EXPERIMENT_0, (user, PASSWORD))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    assert reason in audit_reasons(server, user)


def as_domain_admin(dc) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_cert_file)
    server = ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls)
    return ldap3.Connection(
        server, user="Administrator@corp.example.com", password=ADMIN_PASSWORD, auto_bind=True
    )


def account_state(dc, name: str) -> dict:
    connection = as_domain_admin(dc)
    try:
        connection.search(
            BASE_DN, f"(sAMAccountName={name})", attributes=["badPwdCount", "lockoutTime"]
        )
        attributes = connection.entries[0].entry_attributes_as_dict
    finally:
        connection.unbind()
    lockout_time = (attributes.get("lockoutTime") or [None])[0]
    return {
        "bad_password_count": int((attributes.get("badPwdCount") or [0])[0]),
        "locked": bool(lockout_time) and str(lockout_time)[:4] != "1601",
    }


def test_wrong_password_is_told_apart_in_the_log(server):
    bad = get(server, EXPERIMENT_0, ("bob", "Wrong-Passw0rd!"))
    assert bad.status_code == 401
    assert "bad_password" in audit_reasons(server, "bob")


def test_password_spraying_stays_below_the_domains_lockout_threshold(server, dc):
    # The domain locks accounts after 3 failed binds (seed_ad.py); lockout_threshold is 3
    # too, so the guard reads the domain's policy and lets at most 2 reach the DC.
    statuses = [get(server, EXPERIMENT_0, ("dave", f"Guess-{n}-Pw!")).status_code for n in range(6)]
    assert statuses == [401] * 6
    assert account_state(dc, "dave") == {"bad_password_count": 2, "locked": False}
    assert audit_reasons(server, "dave") == {"bad_password", "throttled"}
    assert "the spraying guard allows 2 per 900 s" in server.log()
    # dave's Windows login is untouched: the DC still takes his password.
    connection = ldap3.Connection(
        ldap3.Server(
            "127.0.0.1",
            port=636,
            use_ssl=True,
            tls=ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_cert_file),
        ),
        user="dave@corp.example.com",
        password=PASSWORD,
    )
    assert connection.bind()
    connection.unbind()


def test_an_account_locked_in_the_domain_is_told_apart(server, dc):
    # Locked by three bad binds straight at the DC (as a Windows client would), not by us.
    lock_out(dc, "lou")
    assert account_state(dc, "lou")["locked"]
    locked = get(server, EXPERIMENT_0, ("lou", PASSWORD))
    assert locked.status_code == 401
    assert "account_locked" in audit_reasons(server, "lou")


def test_tokens_follow_the_domain_account_disabled_and_locked(server, dc):
    secrets = {}
    for name in ("tia", "tom", "alice"):
        response = requests.post(
            server.url + API + "/tokens",
            json={"name": "pipeline", "expires_in_days": 7},
            auth=(f"CORP\\{name}", PASSWORD),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["token"]["user"] == name
        secrets[name] = response.json()["secret"]
    # NO_PERMISSIONS is the floor; alice's groups give her nothing on experiment 0, so use
    # an endpoint every authenticated user may call.
    current = "/api/2.0/mlflow/users/current"

    def token_status(name: str) -> int:
        headers = {"Authorization": f"Bearer {secrets[name]}", "Connection": "close"}
        return requests.get(server.url + current, headers=headers, timeout=30).status_code

    assert {token_status(name) for name in secrets} == {200}
    # Basic user:secret with the login forms people type on Windows is the same owner.
    for login in ("CORP\\alice", "corp\\ALICE", "alice@corp.example.com", "ALICE@CORP.EXAMPLE.COM"):
        response = requests.get(server.url + current, auth=(login, secrets["alice"]), timeout=30)
        assert response.status_code == 200, (login, response.text)
        assert response.json()["user"]["username"] == "alice"
    for login in ("OTHER\\alice", "alice@other.example", "CORP\\bob"):
        response = requests.get(server.url + current, auth=(login, secrets["alice"]), timeout=30)
        assert response.status_code == 401, login
    admin = as_domain_admin(dc)
    try:
        admin.search(BASE_DN, "(sAMAccountName=tia)", attributes=["userAccountControl"])
        tia = admin.entries[0]
        control = int(tia.userAccountControl.value) | 0x2  # ACCOUNTDISABLE
        assert admin.modify(
            tia.entry_dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [control])]}
        )
    finally:
        admin.unbind()
    lock_out(dc, "tom")
    assert account_state(dc, "tom")["locked"]
    wait_until(
        lambda: token_status("tia") == 401 and token_status("tom") == 401,
        "tokens of a disabled / locked domain account still work",
        timeout=12,
    )
    assert token_status("alice") == 200
    refused = {line["user"]: line["reason"] for line in audit_lines(server, event="token_refused")}
    assert refused["tia"] == "owner_disabled" and refused["tom"] == "owner_locked"


def test_check_command_against_ad(config):
    result = run_cli(config, "check", "--user", "alice")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlflow username: alice" in result.stdout
    assert f"group (nested): CN=level-3,{USERS_DN}" in result.stdout


def test_plain_ldap_is_refused_by_ad_and_the_message_says_why(dc, tmp_path):
    settings = ad_settings(dc.ca_cert_file)
    config = ldap_config(tmp_path, dc.ldap_uri, **settings)
    result = run_cli(config, "check")
    assert result.returncode == 1
    assert "use ldaps:// or start_tls = true" in result.stdout + result.stderr
    start_tls = ldap_config(tmp_path, dc.ldap_uri, **{**settings, "start_tls": "true"})
    ok = run_cli(start_tls, "check", "--user", "CORP\\alice")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_in_chain_rule_and_token_groups_find_the_same_groups(dc):
    settings = {
        key: value
        for key, value in ad_settings(dc.ca_cert_file).items()
        if key not in ("admin_groups", "login_domains", "nested_groups_method")
    }
    common = dict(server_uris=(dc.ldaps_uri,), **settings)
    in_chain = Directory(LdapSettings(**common, nested_groups_method="in_chain"))
    token = Directory(LdapSettings(**common, nested_groups_method="token_groups"))
    try:
        by_chain = in_chain.authenticate("alice", PASSWORD)
        by_token = token.authenticate("alice", PASSWORD)
    finally:
        in_chain.close()
        token.close()
    assert f"CN=level-3,{USERS_DN}" in by_chain.group_dns
    assert by_chain.group_dns <= by_token.group_dns
    # tokenGroups also lists the built-in groups every user is in.
    assert {dn.split(",")[0] for dn in by_token.group_dns - by_chain.group_dns} <= {
        "CN=Domain Users",
        "CN=Users",
    }
    assert by_chain.direct_group_dns == by_token.direct_group_dns - {
        dn for dn in by_token.direct_group_dns if dn.startswith(("CN=Domain Users", "CN=Users,"))
    }


def test_who_is_in_a_group_of_the_domain(dc):
    """Nested members by the tree walk, and a member list longer than AD sends at once."""
    settings = {
        key: value
        for key, value in ad_settings(dc.ca_cert_file).items()
        if key not in ("admin_groups", "login_domains")
    }
    directory = Directory(LdapSettings(server_uris=(dc.ldaps_uri,), **settings))
    try:
        nested = directory.group_members(f"cn=LEVEL-3, {USERS_DN.lower()}")
        big = directory.group_members(f"CN=big-group,{USERS_DN}", limit=50)
    finally:
        directory.close()
    alice = next(m for m in nested.members if m.username == "alice")
    assert [dn.split(",")[0] for dn in alice.via] == ["CN=level-2", "CN=level-1"]
    assert nested.count == 1
    # 1,600 bulk users and alice: all counted (ldap3 follows AD's ranges), 50 listed.
    assert big.count == 1601, (big.count, big.complete)
    assert big.complete
    assert [m.username for m in big.members][:2] == ["alice", "bulk0000"]
    assert len(big.members) == 50


def admin_connection(dc):
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_cert_file)
    server = ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(
        server, "Administrator@corp.example.com", ADMIN_PASSWORD, auto_bind=True
    )


def test_renamed_group_keeps_its_mapping_by_object_guid(dc, server):
    experiment = create_experiment(server, "renamed-group")
    map_group(server, f"CN=level-2,{USERS_DN}", experiment, "READ")
    connection = admin_connection(dc)
    try:
        assert connection.modify_dn(f"CN=level-2,{USERS_DN}", "CN=level-two")
        flush_caches(server, ADMIN)
        assert (
            get(
                server,
                f"/api/2.0/mlflow/experiments/get?experiment_id={experiment}",
                ("alice", PASSWORD),
            ).status_code
            == 200
        )
        groups = {
            m["group"] for m in get(server, API + "/group-mappings", ADMIN).json()["group_mappings"]
        }
        assert f"CN=level-two,{USERS_DN}" in groups
        assert f"CN=level-2,{USERS_DN}" not in groups
    finally:
        connection.modify_dn(f"CN=level-two,{USERS_DN}", "CN=level-2")
        connection.unbind()


@pytest.fixture(scope="module")
def plain_server(dc, tmp_path_factory):
    """The plain AD filter, no login_domains: the login forms come from the DC itself
    (docs/active-directory.md#login-forms)."""
    settings = ad_settings(dc.ca_cert_file)
    settings.update(user_search_filter="(sAMAccountName={username})")
    with start_server(
        tmp_path_factory,
        dc.ldaps_uri,
        name="ad-plain",
        mlflow={"default_permission": "READ"},
        **settings,
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("login", "canonical"),
    [
        ("alice", "alice"),
        ("ALICE", "alice"),
        ("CORP\\alice", "alice"),
        ("corp\\Alice", "alice"),
        ("alice@corp.example.com", "alice"),
        ("alice@CORP.EXAMPLE.COM", "alice"),
        ("Alice@Corp.Example.Com", "alice"),
        ("alice@mlflow.example", "alice"),  # the forest's UPN suffix
        ("jane.doe@corp.example.com", "jdoe"),  # a UPN that is not sAMAccountName@realm
        ("CORP\\jdoe", "jdoe"),
    ],
)
def test_windows_login_forms_work_without_configuration(plain_server, login, canonical):
    response = get(plain_server, "/api/2.0/mlflow/users/current", (login, PASSWORD))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == canonical


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        ("EMEA\\alice", "foreign_domain"),
        ("alice@emea.example.com", "foreign_realm"),
        ("alice@example.com", "foreign_realm"),
    ],
)
def test_other_domains_and_realms_are_someone_else(plain_server, login, reason):
    response = get(plain_server, EXPERIMENT_0, (login, PASSWORD))
    assert response.status_code == 401
    assert reason in audit_reasons(plain_server, login)
    assert "Active Directory names for DOMAIN\\user and UPN logins" in plain_server.log()


@pytest.mark.parametrize(
    ("login", "canonical"),
    [("jane.doe@corp.example.com", "jdoe"), ("CORP\\jdoe", "jdoe"), ("Alice", "alice")],
)
def test_the_sign_in_page_takes_every_windows_login_form(plain_server, login, canonical):
    """The sign-in page logs in as Basic does: a UPN that is not sAMAccountName@realm and
    DOMAIN\\user open a session of the directory's canonical name."""
    from test_signin import ME, cookie_value, sign_in

    answer = sign_in(plain_server, login, PASSWORD)
    assert answer.status_code == 303, answer.text
    secret = cookie_value(answer)
    me = requests.get(plain_server.url + ME, cookies={"mlflow_ldap_session": secret}, timeout=60)
    assert me.json()["user"] == canonical
