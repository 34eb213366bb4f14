"""The accept step (``kerberos.acceptor``) and the start-up check, against a keytab
made with MIT's ``ktutil`` (no KDC: every token here is one the service must refuse).

Also the fuzz test of the Negotiate header: any bytes through the parser and the
acceptor end in ``InvalidCredentials`` with a registered reason, never another error.
"""

from __future__ import annotations

import base64
import builtins
import random
import shutil
import subprocess

import gssapi
import pytest
import spnego

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.config import load_settings
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.kerberos import acceptor as acceptor_module
from mlflow_ldap_auth.kerberos.acceptor import KerberosSetupError, NegotiateAcceptor
from mlflow_ldap_auth.kerberos.negotiate import keytab_http_principal, service_principal
from mlflow_ldap_auth.web.credentials import parse_authorization

pytestmark = pytest.mark.unit

PRINCIPAL = "HTTP/localhost@EXAMPLE.TEST"
GSS_S_FAILURE = 13 << 16


def make_keytab(path, *principals: str):
    """A keytab holding a key of each principal (``ktutil``, offline)."""
    # Not a skip: .ci/setup installs krb5-user; a missing ktutil is a broken install.
    assert shutil.which("ktutil"), "MIT ktutil (Debian krb5-user, .ci/setup) is not installed"
    script = "".join(
        f"addent -password -p {principal} -k 1 -e aes256-cts-hmac-sha1-96\nkey-of-{n}\n"
        for n, principal in enumerate(principals)
    )
    subprocess.run(
        ["ktutil"], input=script + f"wkt {path}\nquit\n", text=True, check=True, timeout=30
    )
    return str(path)


@pytest.fixture(scope="module")
def keytab(tmp_path_factory):
    return make_keytab(tmp_path_factory.mktemp("kt") / "http.keytab", PRINCIPAL)


@pytest.fixture(scope="module")
def acceptor(keytab):
    return NegotiateAcceptor(keytab, PRINCIPAL)


def reason_of(acceptor: NegotiateAcceptor, token: bytes) -> str:
    with pytest.raises(InvalidCredentials) as raised:
        acceptor.accept(token)
    return raised.value.reason


def ntlm_negotiate_message() -> bytes:
    """A real NTLMSSP NEGOTIATE message (pyspnego makes one without any server)."""
    return spnego.client("user", "password", hostname="localhost", protocol="ntlm").step()


def test_ntlm_bare_or_wrapped_in_spnego_is_ntlm_not_supported(acceptor):
    bare = ntlm_negotiate_message()
    assert bare.startswith(b"NTLMSSP\0")
    wrapped = spnego.client(
        "user",
        "password",
        hostname="localhost",
        protocol="negotiate",
        options=spnego.NegotiateOptions.use_negotiate,
    ).step()
    assert wrapped[:1] == b"\x60"  # an SPNEGO NegTokenInit offering NTLM only
    assert reason_of(acceptor, bare) == "ntlm_not_supported"
    assert reason_of(acceptor, wrapped) == "ntlm_not_supported"


@pytest.mark.parametrize(
    "token",
    [b"\x00garbage", b"`\x82\x01\x00", b"\x60\x06\x06\x06+\x06\x01\x05\x05\x02", b"NTLMSSP"],
)
def test_garbage_is_malformed_negotiate(acceptor, token):
    assert reason_of(acceptor, token) == "malformed_negotiate"


@pytest.mark.parametrize(
    ("minor", "reason"),
    [
        ("Request is a replay", "replay"),
        ("Clock skew too great", "clock_skew"),
        ("Request ticket server HTTP/x@R not found in keytab (ticket kvno 2)", "wrong_service"),
        ("Cannot decrypt ticket for HTTP/a@R using keytab key for HTTP/b@R", "wrong_service"),
        ("Wrong principal in request", "wrong_service"),
        ("Decrypt integrity check failed", "malformed_negotiate"),
        ("", "malformed_negotiate"),
    ],
)
def test_a_plain_gss_failure_is_told_apart_by_its_kerberos_error(monkeypatch, minor, reason):
    # GSS_S_FAILURE has no type of its own: the Kerberos error of the minor status
    # (here as MIT words it) is what tells replay, skew and another service apart.
    error = gssapi.raw.misc.GSSError(GSS_S_FAILURE, 0)
    words = f"Major ({GSS_S_FAILURE}): Unspecified GSS failure, Minor (100005): {minor}"
    monkeypatch.setattr(gssapi.raw.misc.GSSError, "gen_message", lambda self: words)
    assert acceptor_module.failure_reason(gssapi, error) == reason


def test_typed_gss_errors_decide_by_their_type():
    exceptions = gssapi.raw.exceptions
    assert acceptor_module.failure_reason(gssapi, exceptions.BadMechanismError(65536, 0)) == (
        "ntlm_not_supported"
    )
    assert acceptor_module.failure_reason(gssapi, exceptions.DuplicateTokenError(0, 0)) == "replay"
    # A typed error is never read by its words.
    invalid = exceptions.InvalidTokenError(589824, 0)
    assert acceptor_module.failure_reason(gssapi, invalid) == "malformed_negotiate"


def test_fuzzed_negotiate_headers_end_in_a_registered_refusal(acceptor):
    rng = random.Random(20261207)
    seeds = [ntlm_negotiate_message(), b"\x60\x82\x01\x00" + bytes(252), b"\x6e\x82\x01\x00"]
    seen = set()
    for n in range(400):
        kind = n % 4
        if kind == 0:  # any bytes
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            header = "Negotiate " + base64.b64encode(raw).decode()
        elif kind == 1:  # a real token's shape, mutated
            raw = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 8)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            cut = bytes(raw)[: rng.randrange(1, len(raw) + 1)]
            header = "Negotiate " + base64.b64encode(cut).decode()
        elif kind == 2:  # not base64 at all
            junk = "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(0, 80)))
            header = rng.choice(["Negotiate ", "negotiate ", "Negotiate  "]) + junk
        else:  # long: up to the bound and past it
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60_000)))
            header = "Negotiate " + base64.b64encode(raw).decode()
        with pytest.raises(InvalidCredentials) as raised:
            credential = parse_authorization(header, negotiate=True)
            acceptor.accept(credential.token)
        assert raised.value.reason in reasons.REASONS, raised.value.reason
        seen.add(raised.value.reason)
    assert {"malformed_negotiate", "ntlm_not_supported"} <= seen


# -- the start-up check -------------------------------------------------------------


def settings_with(tmp_path, **ldap):
    lines = [
        "[mlflow]",
        "[ldap]",
        "server_uri = ldap://127.0.0.1:3389",
        "user_search_base = ou=people,dc=example,dc=org",
        "group_search_base = ou=groups,dc=example,dc=org",
    ] + [f"{key} = {value}" for key, value in ldap.items()]
    path = tmp_path / "ldap_auth.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(str(path), environ={})


def test_without_a_keytab_nothing_is_checked(tmp_path):
    assert service_principal(settings_with(tmp_path)) is None


def test_the_keytabs_first_http_principal_is_the_default(tmp_path, keytab):
    assert service_principal(settings_with(tmp_path, kerberos_keytab=keytab)) == PRINCIPAL
    assert keytab_http_principal(keytab) == PRINCIPAL


def test_a_keytab_without_an_http_principal_stops_the_start_in_one_line(tmp_path):
    host_only = make_keytab(tmp_path / "host.keytab", "host/vm@EXAMPLE.TEST")
    with pytest.raises(KerberosSetupError) as raised:
        service_principal(settings_with(tmp_path, kerberos_keytab=host_only))
    message = str(raised.value)
    assert "\n" not in message
    assert "no HTTP/ service principal" in message


def test_a_configured_principal_the_keytab_lacks_stops_the_start(tmp_path, keytab):
    settings = settings_with(
        tmp_path,
        kerberos_keytab=keytab,
        kerberos_service_principal="HTTP/mlflow.example.test@EXAMPLE.TEST",
    )
    with pytest.raises(KerberosSetupError) as raised:
        service_principal(settings)
    assert "holds no key of HTTP/mlflow.example.test@EXAMPLE.TEST" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_without_the_extra_the_start_stops_naming_it(tmp_path, keytab, monkeypatch):
    real_import = builtins.__import__

    def no_gssapi(name, *args, **kwargs):
        if name == "gssapi" or name.startswith("gssapi."):
            raise ImportError("No module named 'gssapi'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gssapi)
    with pytest.raises(KerberosSetupError) as raised:
        service_principal(settings_with(tmp_path, kerberos_keytab=keytab))
    message = str(raised.value)
    assert "pip install 'mlflow-ldap-auth[kerberos]'" in message
    assert "\n" not in message
