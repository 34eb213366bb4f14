"""Kerberos single sign-on (docs/kerberos.md) against the Samba DC's own KDC.

One ``SambaDC(kdc=True)`` and one ``mlflow server`` with its keytab for the module. The
server is opened at ``http://localhost:PORT``: a client asks for a ticket to
``HTTP/<host in the URL>``, and the keytab holds ``HTTP/localhost``. Tickets come from
``kinit`` into a ``FILE:`` cache per person (``kerberos_realm``); the tokens are made by
python-gssapi and requests-gssapi in this process with that cache in the environment,
by the MLflow client in a subprocess, and by Chromium.

The same DC serves ``python -m mlflow_ldap_auth check`` with the keytab (at the end).

A principal of another realm cannot be had from this KDC (no trust): that rule is
tested as the pure function it is (tests/unit/test_ticket_login.py).
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import ssl
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import gssapi
import ldap3
import pytest
import requests
import requests_gssapi
import spnego
from playwright.sync_api import expect

from browser import ANSWER_MS, patient
from kerberos_realm import write_keytab
from mlflow_ldap_auth.kerberos.keytab import read_keytab
from samba_dc import (
    ADMIN_PASSWORD,
    BASE_DN,
    PASSWORD,
    REALM,
    USERS_DN,
    SambaDC,
    ad_settings,
    lock_out,
)
from servers import (
    audit_lines,
    ldap_config,
    run_cli,
    start_server,
    wait_for_audit,
    wait_until,
)

pytestmark = pytest.mark.ad

COOKIE = "mlflow_ldap_session"
CURRENT = "/api/2.0/mlflow/users/current"
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
#: What lets Chromium answer a Negotiate challenge (beside conftest's launch flags).
NEGOTIATE_ALLOWED = "--auth-server-allowlist=localhost"


def as_domain_admin(dc) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_cert_file)
    server = ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls)
    return ldap3.Connection(
        server, user="Administrator@corp.example.com", password=ADMIN_PASSWORD, auto_bind=True
    )


def modify(dc, name: str, changes: dict) -> None:
    admin = as_domain_admin(dc)
    try:
        admin.search(BASE_DN, f"(sAMAccountName={name})", attributes=["userAccountControl"])
        entry = admin.entries[0]
        if callable(changes):
            changes = changes(entry)
        assert admin.modify(entry.entry_dn, changes), admin.result
    finally:
        admin.unbind()


def disable(dc, name: str) -> None:
    modify(
        dc,
        name,
        lambda entry: {
            "userAccountControl": [
                (ldap3.MODIFY_REPLACE, [int(entry.userAccountControl.value) | 0x2])
            ]
        },
    )


@pytest.fixture(scope="module")
def dc():
    instance = SambaDC(kdc=True).start()
    # A second web service, for "a ticket for another service": its tickets are
    # encrypted with svc-mlflow's key, which the server's keytab does not hold.
    modify(
        instance,
        "svc-mlflow",
        {
            "servicePrincipalName": [(ldap3.MODIFY_ADD, ["HTTP/127.0.0.1"])],
            "msDS-SupportedEncryptionTypes": [(ldap3.MODIFY_REPLACE, ["24"])],
        },
    )
    admin = as_domain_admin(instance)
    try:  # they may use the server until disabled, locked or removed below; jdoe too
        for name in ("tia", "tom", "lou", "bob", "jdoe"):
            admin.search(BASE_DN, f"(sAMAccountName={name})", attributes=["1.1"])
            assert admin.modify(
                f"CN=level-1,{USERS_DN}",
                {"member": [(ldap3.MODIFY_ADD, [admin.entries[0].entry_dn])]},
            ), admin.result
    finally:
        admin.unbind()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def realm(dc):
    return dc.realm


@pytest.fixture(scope="module")
def server(dc, realm, tmp_path_factory):
    home = tmp_path_factory.mktemp("kerberos")
    config = ldap_config(
        home,
        dc.ldaps_uri,
        mlflow={"default_permission": "EDIT"},
        **ad_settings(dc.ca_cert_file),
        allowed_groups=f"CN=level-3,{USERS_DN};CN=mlflow-admins,{USERS_DN}",
        kerberos_keytab=str(dc.keytab),
    )
    with start_server(
        tmp_path_factory, config=config, name="kerberos", env=realm.server_env(home)
    ) as running:
        # The name a client asks a ticket for: HTTP/localhost.
        running.kerberos_url = running.url.replace("127.0.0.1", "localhost")
        yield running


@pytest.fixture(scope="module")
def tickets(realm):
    """``kinit`` once per person: their ticket cache."""
    caches = {}

    def ticket(user: str):
        if user not in caches:
            caches[user] = realm.kinit(user, PASSWORD)
        return caches[user]

    return ticket


@pytest.fixture
def signed_in_as(monkeypatch, realm, tickets):
    """Point this process's Kerberos at ``user``'s ticket cache."""

    def use(user: str):
        for key, value in realm.client_env(tickets(user)).items():
            monkeypatch.setenv(key, value)

    return use


def token(target: str = "localhost") -> str:
    """A fresh SPNEGO token for ``HTTP/<target>`` from the current ticket cache."""
    name = gssapi.Name(f"HTTP@{target}", gssapi.NameType.hostbased_service)
    context = gssapi.SecurityContext(name=name, usage="initiate", mech=SPNEGO)
    return base64.b64encode(context.step()).decode()


def negotiate(server, path: str = CURRENT, header: str | None = None, **kwargs):
    headers = {"Authorization": header or "Negotiate " + token(), **kwargs.pop("headers", {})}
    return requests.get(server.kerberos_url + path, headers=headers, timeout=60, **kwargs)


def refusals(server, reason: str) -> list[dict]:
    return audit_lines(server, event="login", result="refused", reason=reason)


# -- (a) clients that hold a ticket ----------------------------------------------------


def test_requests_gssapi_signs_in_and_verifies_the_servers_token(server, signed_in_as):
    signed_in_as("alice")
    auth = requests_gssapi.HTTPSPNEGOAuth(
        mutual_authentication=requests_gssapi.REQUIRED, opportunistic_auth=True
    )
    # REQUIRED: requests-gssapi raises unless the answer's token proves the server.
    response = requests.get(server.kerberos_url + CURRENT, auth=auth, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"
    assert response.headers["WWW-Authenticate"].startswith("Negotiate ")
    [line] = audit_lines(server, event="login", user="alice", reason="kerberos_ticket")[:1]
    assert line["method"] == "negotiate" and line["login"] == "alice@CORP.EXAMPLE.COM"


CLIENT = textwrap.dedent(
    """
    import os, sys, mlflow
    assert not any(k.startswith(("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                                 "MLFLOW_TRACKING_TOKEN")) for k in os.environ)
    mlflow.set_tracking_uri(sys.argv[1])
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.93)
    print(run.info.run_id)
    """
)


def entry_point_path(tmp_path) -> list[str]:
    """Where ``importlib.metadata`` finds the ``kerberos`` provider's entry point: the
    installed package's when it is installed from this checkout, else a dist-info of
    the checkout's pyproject entry in ``tmp_path``."""
    names = {e.name for e in importlib.metadata.entry_points(group="mlflow.request_auth_provider")}
    if "kerberos" in names:
        return []
    info = tmp_path / "mlflow_ldap_auth_kerberos_client-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlflow-ldap-auth-kerberos-client\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(
        "[mlflow.request_auth_provider]\n"
        "kerberos = mlflow_ldap_auth.kerberos_client:KerberosAuthProvider\n"
    )
    return [str(tmp_path)]


def test_the_mlflow_client_logs_a_run_with_only_a_ticket_cache(server, realm, tickets, tmp_path):
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "KRB5"))
    }
    path = entry_point_path(tmp_path) + [p for p in env.get("PYTHONPATH", "").split(":") if p]
    env |= realm.client_env(tickets("alice")) | {
        "MLFLOW_TRACKING_AUTH": "kerberos",
        "PYTHONPATH": ":".join(path),
    }
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, server.kerberos_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    run = requests.get(
        server.url + f"/api/2.0/mlflow/runs/get?run_id={run_id}",
        auth=("alice", PASSWORD),
        timeout=60,
    ).json()["run"]
    # The server answers nothing without credentials: the ticket signed the client in.
    assert run["data"]["metrics"][0]["value"] == 0.93


def test_a_fastapi_route_takes_negotiate_and_answers_the_mutual_token(server, signed_in_as):
    signed_in_as("alice")
    auth = requests_gssapi.HTTPSPNEGOAuth(
        mutual_authentication=requests_gssapi.REQUIRED, opportunistic_auth=True
    )
    response = requests.post(
        server.kerberos_url + "/v1/traces",
        data=b"",
        headers={"Content-Type": "application/x-protobuf", "X-Mlflow-Experiment-Id": "0"},
        auth=auth,
        timeout=60,
    )
    # Authorized: the request reached the OTel handler, which refuses the empty body.
    assert response.status_code == 400, response.text
    assert "no spans" in response.text
    assert response.headers["WWW-Authenticate"].startswith("Negotiate ")


def test_a_warm_ticket_costs_no_directory_round_trip(server, signed_in_as):
    signed_in_as("carol")
    assert negotiate(server).status_code == 200
    decisions = len(audit_lines(server, event="login", user="carol"))
    for _ in range(3):
        answer = negotiate(server)
        assert answer.status_code == 200 and answer.json()["user"]["is_admin"] is True
    # Cache hits are no new decisions: no line, no directory look-up behind one.
    assert len(audit_lines(server, event="login", user="carol")) == decisions


def test_the_activity_table_shows_the_ticket_login(server, signed_in_as):
    signed_in_as("jdoe")  # a UPN that is not the sAMAccountName: jane.doe@corp.example.com
    assert negotiate(server).json()["user"]["username"] == "jdoe"

    def jdoes_logins():
        answer = requests.get(
            server.url + "/api/2.0/mlflow/ldap-auth/activity",
            params={"event": "login", "user": "jdoe"},
            auth=("carol", PASSWORD),
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["records"]

    [record] = wait_until(jdoes_logins, "the ticket login is not in the activity table")
    assert record["reason"] == "kerberos_ticket"
    assert record["details"]["method"] == "negotiate"
    assert record["details"]["login"] == "jdoe@CORP.EXAMPLE.COM"


def test_no_token_reaches_the_log(server, signed_in_as):
    signed_in_as("alice")
    accepted, refused = token(), token("127.0.0.1")
    assert negotiate(server, header="Negotiate " + accepted).status_code == 200
    assert negotiate(server, header="Negotiate " + refused).status_code == 401
    log = server.log()
    for sent in (accepted, refused):
        assert sent[:40] not in log and sent[-40:] not in log


# -- (c) refusals ----------------------------------------------------------------------


def test_a_user_outside_allowed_groups_is_refused_403(server, signed_in_as):
    signed_in_as("dave")
    before = len(audit_lines(server, event="login", user="dave@CORP.EXAMPLE.COM", result="refused"))
    assert negotiate(server).status_code == 403
    [line] = wait_for_audit(
        server, after=before, event="login", user="dave@CORP.EXAMPLE.COM", result="refused"
    )
    assert line["method"] == "negotiate"


def test_an_account_disabled_after_its_ticket_was_issued_is_refused(server, dc, signed_in_as):
    signed_in_as("tia")
    early = token()  # the service ticket is in tia's cache now: no KDC asked below
    disable(dc, "tia")
    answer = negotiate(server)
    assert answer.status_code == 401
    assert refusals(server, "account_disabled")[-1]["method"] == "negotiate"
    # The token made before the account was disabled is refused all the same.
    assert negotiate(server, header="Negotiate " + early).status_code == 401


def test_an_account_locked_after_its_ticket_was_issued_is_refused(server, dc, signed_in_as):
    signed_in_as("lou")
    early = token()  # the service ticket is in lou's cache now: no KDC asked below
    lock_out(dc, "lou")  # three bad passwords straight at the DC, as a Windows client would
    assert negotiate(server, header="Negotiate " + early).status_code == 401
    assert refusals(server, "account_locked")[-1]["method"] == "negotiate"


def test_an_account_removed_after_its_ticket_was_issued_is_refused(server, dc, signed_in_as):
    signed_in_as("bob")
    early = token()  # the service ticket is in bob's cache now: no KDC asked below
    admin = as_domain_admin(dc)
    try:
        assert admin.delete(f"CN=bob,{USERS_DN}"), admin.result
    finally:
        admin.unbind()
    assert negotiate(server, header="Negotiate " + early).status_code == 401
    assert refusals(server, "unknown_user")[-1]["method"] == "negotiate"


def test_a_cached_ticket_login_follows_the_account_disabled(server, dc, signed_in_as):
    signed_in_as("tom")
    assert negotiate(server).status_code == 200
    disable(dc, "tom")
    # Revalidation evicts the cached answer as it evicts a cached password: within
    # revalidate_interval_seconds (10) and a tick.
    wait_until(
        lambda: negotiate(server).status_code == 401,
        "a disabled account's ticket still signs in",
        timeout=30,
    )
    assert refusals(server, "account_disabled")[-1]["method"] == "negotiate"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Negotiate !!!", "malformed_negotiate"),
        ("Negotiate " + base64.b64encode(b"\x60\x82garbage" * 10).decode(), "malformed_negotiate"),
        ("Negotiate " + "A" * (64 * 1024 + 4), "malformed_negotiate"),
    ],
    ids=["not-base64", "garbage", "oversized"],
)
def test_malformed_tokens_are_401(server, header, reason):
    before = len(refusals(server, reason))
    answer = negotiate(server, header=header)
    assert answer.status_code == 401
    wait_for_audit(server, after=before, event="login", reason=reason)


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "spnego"])
def test_ntlm_is_refused(server, wrapped):
    options = spnego.NegotiateOptions.use_negotiate if wrapped else spnego.NegotiateOptions.none
    client = spnego.client(
        "alice",
        PASSWORD,
        hostname="localhost",
        protocol="negotiate" if wrapped else "ntlm",
        options=options,
    )
    header = "Negotiate " + base64.b64encode(client.step()).decode()
    before = len(refusals(server, "ntlm_not_supported"))
    assert negotiate(server, header=header).status_code == 401
    wait_for_audit(server, after=before, event="login", reason="ntlm_not_supported")


def test_a_replayed_token_is_refused(server, signed_in_as):
    signed_in_as("alice")
    header = "Negotiate " + token()
    assert negotiate(server, header=header).status_code == 200
    before = len(refusals(server, "replay"))
    assert negotiate(server, header=header).status_code == 401
    wait_for_audit(server, after=before, event="login", reason="replay")


def test_a_ticket_for_another_service_is_refused(server, signed_in_as):
    signed_in_as("alice")
    before = len(refusals(server, "wrong_service"))
    answer = negotiate(server, header="Negotiate " + token("127.0.0.1"))
    assert answer.status_code == 401
    wait_for_audit(server, after=before, event="login", reason="wrong_service")


def test_no_negotiate_refusal_is_ever_a_5xx(server):
    assert "Traceback" not in server.log()


# -- (d) without a ticket --------------------------------------------------------------


def test_an_api_request_without_credentials_gets_both_challenges(server):
    answer = requests.get(server.kerberos_url + CURRENT, timeout=60)
    assert answer.status_code == 401
    # Both challenges, Negotiate first, in one header (MLflow's security middleware keeps
    # one header of each name).
    assert answer.raw.headers.getlist("WWW-Authenticate") == ['Negotiate, Basic realm="mlflow"']


def test_a_navigation_without_credentials_gets_the_challenge_and_the_page(server):
    answer = requests.get(
        server.kerberos_url + "/?x=1", headers={"Accept": "text/html"}, timeout=60
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Negotiate"
    assert answer.headers["Content-Type"].startswith("text/html")
    assert 'name="password"' in answer.text and 'value="/?x=1"' in answer.text


def test_a_navigation_with_a_ticket_gets_a_session(server, signed_in_as):
    signed_in_as("alice")
    answer = negotiate(server, path="/", headers={"Accept": "text/html"})
    assert answer.status_code == 200
    assert answer.headers["WWW-Authenticate"].startswith("Negotiate ")
    session = answer.cookies.get(COOKIE)
    assert session
    with_cookie = requests.get(server.url + CURRENT, cookies={COOKIE: session}, timeout=60)
    assert with_cookie.json()["user"]["username"] == "alice"


def test_a_refused_ticket_of_a_navigation_gets_the_page_saying_so(server, signed_in_as):
    signed_in_as("alice")
    answer = negotiate(
        server, path="/", header="Negotiate " + token("127.0.0.1"), headers={"Accept": "text/html"}
    )
    assert answer.status_code == 401
    assert "Kerberos ticket was not accepted" in answer.text
    assert "WWW-Authenticate" not in answer.headers


# -- (b), (d) Chromium -----------------------------------------------------------------


def chromium(playwright, launch_args: dict, tmp_path, env: dict):
    """Chromium (conftest's ``browser_type_launch_args``) allowed to answer Negotiate for
    localhost, with a profile that has seen a Negotiate challenge before: a fresh
    profile refuses the first one."""
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "Local State").write_text(
        json.dumps({"net": {"received_http_auth_negotiate_headers": True}})
    )
    return patient(
        playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=launch_args["executable_path"],
            args=[*launch_args["args"], NEGOTIATE_ALLOWED],
            env=env,
        )
    )


@pytest.mark.browser
def test_chromium_with_a_ticket_opens_mlflow_signed_in(
    playwright, browser_type_launch_args, server, realm, tickets, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
    context = chromium(
        playwright, browser_type_launch_args, tmp_path, env | realm.client_env(tickets("alice"))
    )
    try:
        page = context.new_page()
        answer = page.goto(server.kerberos_url + "/", timeout=ANSWER_MS)
        assert answer is not None and answer.status == 200
        assert [c for c in context.cookies() if c["name"] == COOKIE]
        signed_in = audit_lines(server, event="login", user="alice", method="negotiate")
        assert signed_in
    finally:
        context.close()


@pytest.mark.browser
def test_chromium_without_a_ticket_gets_the_page_and_signs_in(
    playwright, browser_type_launch_args, server, realm, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
    empty = {"KRB5_CONFIG": str(realm.krb5_conf), "KRB5CCNAME": f"FILE:{tmp_path / 'none'}"}
    context = chromium(playwright, browser_type_launch_args, tmp_path, env | empty)
    try:
        page = context.new_page()
        answer = page.goto(server.kerberos_url + "/ldap-admin/tokens/", timeout=ANSWER_MS)
        assert answer is not None and answer.status == 401
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="Sign in").click()
        assert posted.value.status == 303
        assert urlsplit(posted.value.headers["location"]).path == "/ldap-admin/tokens/"
        assert [c for c in context.cookies() if c["name"] == COOKIE]
    finally:
        context.close()


# -- start-up --------------------------------------------------------------------------


def test_a_principal_the_keytab_lacks_stops_the_server_with_one_line(dc, realm, tmp_path):
    with start_server(
        tmp_path,
        dc.ldaps_uri,
        ready=False,
        env=realm.server_env(tmp_path),
        tls_ca_cert_file=dc.ca_cert_file,
        kerberos_keytab=str(dc.keytab),
        kerberos_service_principal="HTTP/mlflow.corp.example.com@CORP.EXAMPLE.COM",
    ) as server:
        assert server.wait_exit() != 0
    log = server.log()
    [line] = [line for line in log.splitlines() if "kerberos_keytab" in line]
    assert "holds no key of HTTP/mlflow.corp.example.com@CORP.EXAMPLE.COM" in line
    assert "Traceback" not in log


# -- python -m mlflow_ldap_auth check (docs/kerberos.md#checking-the-keytab) ---------------
# Last in the module: the password change below gives svc-http a new key version (the
# keytab is exported again after it).
SERVICE_DN = f"CN=svc-http,{USERS_DN}"


def check(dc, tmp_path, **kerberos):
    settings = {**ad_settings(dc.ca_cert_file), "kerberos_keytab": str(dc.keytab), **kerberos}
    return run_cli(ldap_config(tmp_path, dc.ldaps_uri, **settings), "check")


def set_service_password(dc, password: str) -> None:
    """A new password for svc-http, as an administrator would set one: its key version
    goes up in the directory, and the exported keytab keeps the old keys."""
    admin = as_domain_admin(dc)
    try:
        value = f'"{password}"'.encode("utf-16-le")
        changed = admin.modify(SERVICE_DN, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [value])]})
        assert changed, admin.result
    finally:
        admin.unbind()
        sock = getattr(admin, "socket", None)  # ldap3 may leave the LDAPS socket open
        if sock is not None:
            sock.close()


def test_the_exported_keytab_matches_the_directory(dc, tmp_path):
    result = check(dc, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "kerberos extra: installed (gssapi)" in lines
    assert f"keytab {dc.keytab}: readable (2 keys)" in lines
    assert (
        f"service principal HTTP/localhost@{REALM} (the keytab's first HTTP/ one): in the "
        "keytab (kvno 2: aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96)"
    ) in lines
    assert f"key version of HTTP/localhost: 2, as in the directory ({SERVICE_DN}): ok" in lines
    assert result.stdout.rstrip().endswith("check: ok")


def test_a_principal_the_keytab_does_not_hold_fails(dc, tmp_path):
    result = check(dc, tmp_path, kerberos_service_principal="HTTP/mlflow.corp.example.com")
    assert result.returncode == 1
    assert (
        "service principal HTTP/mlflow.corp.example.com (configured): NOT IN THE KEYTAB: it "
        f"holds HTTP/localhost@{REALM}"
    ) in result.stdout.splitlines()


def test_an_spn_no_account_holds_fails(dc, tmp_path):
    """A keytab made by hand (ktutil) for a name the directory never gave out: browsers
    would get no ticket for it."""
    keytab = write_keytab(
        tmp_path / "nobody.keytab",
        [(f"HTTP/nobody.corp.example.com@{REALM}", 1, "aes256-cts")],
        PASSWORD,
    )
    result = check(dc, tmp_path, kerberos_keytab=str(keytab))
    assert result.returncode == 1
    assert (
        "key version of HTTP/nobody.corp.example.com: NO ACCOUNT in the directory holds the SPN "
        "HTTP/nobody.corp.example.com"
    ) in result.stdout.splitlines()


def test_a_file_that_is_not_a_keytab_fails_with_a_sentence(dc, tmp_path):
    not_keytab = tmp_path / "krb5.conf"
    not_keytab.write_text("[libdefaults]\n")
    result = check(dc, tmp_path, kerberos_keytab=str(not_keytab))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"keytab {not_keytab}: NOT A KEYTAB: " in result.stdout


def test_a_keytab_exported_before_a_password_change_is_a_mismatch(dc, tmp_path):
    """The KDC encrypts tickets with the new key (version 3); the keytab holds version 2
    only: every browser's ticket would fail. Exported again, the keytab matches."""
    set_service_password(dc, "Http-Changed-Passw0rd!1")
    try:
        result = check(dc, tmp_path)
        assert result.returncode == 1
        assert (
            "key version of HTTP/localhost: MISMATCH: the directory's is 3 "
            f"({SERVICE_DN}), the keytab holds 2: export the keytab again"
        ) in result.stdout.splitlines()
        assert "export the keytab again" in result.stderr
    finally:
        dc.export_keytab()
    assert {entry.kvno for entry in read_keytab(dc.keytab)} == {3}
    again = check(dc, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"key version of HTTP/localhost: 3, as in the directory ({SERVICE_DN}): ok" in (
        again.stdout.splitlines()
    )
