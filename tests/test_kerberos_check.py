"""``python -m mlflow_ldap_auth check`` with ``kerberos_keytab`` set, against the Samba
DC's KDC (``SambaDC(kdc=True)``) and the keytab samba-tool exports for ``HTTP/localhost``.

docs/kerberos.md#checking-the-keytab: the extra, the keytab, the service principal and its
key version against the directory's ``msDS-KeyVersionNumber``.
"""

import os
import subprocess
import sys

import ldap3
import pytest
from test_active_directory import ad_settings

from kerberos_realm import write_keytab
from mlflow_ldap_auth.kerberos.keytab import read_keytab
from samba_dc import ADMIN_PASSWORD, PASSWORD, REALM, USERS_DN, SambaDC
from servers import ldap_config, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.ad]
SERVICE_DN = f"CN=svc-http,{USERS_DN}"


@pytest.fixture(scope="module")
def dc():
    instance = SambaDC(kdc=True).start()
    yield instance
    instance.cleanup()


def check(dc, tmp_path, **kerberos):
    settings = {**ad_settings(dc.ca_cert_file), "kerberos_keytab": str(dc.keytab), **kerberos}
    return run_cli(ldap_config(tmp_path, dc.ldaps_uri, **settings), "check")


def set_service_password(dc, password: str) -> None:
    """A new password for svc-http, as an administrator would set one: its key version
    goes up in the directory, and the exported keytab keeps the old keys."""
    tls = ldap3.Tls(ca_certs_file=dc.ca_cert_file)
    server = ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls)
    admin = ldap3.Connection(
        server, f"Administrator@{REALM.lower()}", ADMIN_PASSWORD, auto_bind=True
    )
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
    assert "kerberos extra: installed (gssapi, spnego)" in lines
    assert f"keytab {dc.keytab}: readable (2 keys)" in lines
    assert (
        f"service principal HTTP/localhost@{REALM} (the keytab's first HTTP/ one): in the "
        "keytab (kvno 2: aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96)"
    ) in lines
    assert f"key version of HTTP/localhost: 2, as in the directory ({SERVICE_DN}): ok" in lines
    assert result.stdout.rstrip().endswith("check: ok")


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


ACCEPT_A_TICKET = """
import gssapi
spnego = gssapi.Mechanism.from_sasl_name("SPNEGO")
service = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
token = gssapi.SecurityContext(name=service, mech=spnego, usage="initiate").step()
acceptor = gssapi.SecurityContext(usage="accept")
acceptor.step(token)
print(acceptor.complete, acceptor.initiator_name)
"""


def test_the_exported_keytab_accepts_the_realms_tickets(dc, tmp_path):
    """What the check vouches for, done: alice's ticket from the DC's KDC (SPNEGO, as
    browsers send it) is accepted with the keytab, and the acceptor's replay cache is
    the private one of ``server_env``, not the machine's."""
    ccache = dc.realm.kinit("alice", PASSWORD)
    env = {
        "PATH": "/usr/bin:/bin",
        **dc.realm.client_env(ccache),
        **dc.realm.server_env(tmp_path),
        "KRB5_KTNAME": f"FILE:{dc.keytab}",
    }
    result = subprocess.run(
        [sys.executable, "-c", ACCEPT_A_TICKET],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", f"alice@{REALM}"], result.stderr
    assert [path.name for path in (tmp_path / "rcache").iterdir()] == [
        f"krb5_{os.getuid()}.rcache2"
    ]
