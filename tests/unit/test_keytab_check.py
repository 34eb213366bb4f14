"""The Kerberos lines of ``check`` (cli/keytab_check.py) for directory answers the test
DC does not give: a key version hidden from the service account, a directory that is not
Active Directory, an SPN on two accounts, no answer. A warning keeps the check passing;
tests/test_kerberos.py runs the rest against the Samba DC."""

import importlib.util
from types import SimpleNamespace

import pytest

from kerberos_realm import write_keytab
from mlflow_ldap_auth.cli import keytab_check
from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.service_principals import SpnAccount

REALM = "CORP.EXAMPLE.COM"
SPN = "HTTP/mlflow.corp.example.com"
DN = "CN=svc-mlflow-http,CN=Users,DC=corp,DC=example,DC=com"


class StubDirectory:
    def __init__(self, answer):
        self.answer = answer
        self.asked = []

    def spn_accounts(self, spn):
        self.asked.append(spn)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture(scope="module")
def keytab(tmp_path_factory):
    path = tmp_path_factory.mktemp("keytab") / "mlflow.keytab"
    keys = [(f"{SPN}@{REALM}", 5, "aes256-cts"), (f"{SPN}@{REALM}", 4, "aes256-cts")]
    return write_keytab(path, keys, "throwaway-Passw0rd")


def run(keytab, answer, capsys, principal=None, bound=True):
    settings = SimpleNamespace(kerberos_keytab=str(keytab), kerberos_service_principal=principal)
    directory = StubDirectory(answer)
    failed = keytab_check.check_kerberos(settings, directory, bound=bound)
    return failed, capsys.readouterr().out.splitlines(), directory


def test_a_matching_key_version_is_ok(keytab, capsys):
    failed, lines, directory = run(keytab, [SpnAccount(DN, "svc-mlflow-http", 4)], capsys)
    assert failed == []
    assert directory.asked == [SPN]
    assert (
        f"service principal {SPN}@{REALM} (the keytab's first HTTP/ one): in the keytab "
        "(kvno 4: aes256-cts-hmac-sha1-96; kvno 5: aes256-cts-hmac-sha1-96)" in lines
    )
    assert f"key version of {SPN}: 4, as in the directory ({DN}): ok" in lines


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        (
            [SpnAccount(DN, "svc-mlflow-http", None)],
            f"not compared (warning): msDS-KeyVersionNumber of {DN} is not readable with "
            "the service account",
        ),
        (None, "not compared (warning): the directory is not Active Directory"),
        (
            DirectoryUnavailable("no server answered"),
            "not compared (warning): the directory did not answer: no server answered",
        ),
    ],
)
def test_what_the_directory_cannot_say_is_a_warning(keytab, capsys, answer, line):
    failed, lines, _ = run(keytab, answer, capsys)
    assert failed == []
    assert f"key version of {SPN}: {line}" in lines


def test_without_the_service_bind_the_directory_is_not_asked(keytab, capsys):
    failed, lines, directory = run(keytab, [], capsys, bound=False)
    assert failed == [] and directory.asked == []
    assert (
        f"key version of {SPN}: not compared (warning): the service account could not bind" in lines
    )


def test_an_spn_on_two_accounts_fails(keytab, capsys):
    other = DN.replace("svc-mlflow-http", "old-web")
    answer = [SpnAccount(DN, "svc-mlflow-http", 4), SpnAccount(other, "old-web", 9)]
    failed, lines, _ = run(keytab, answer, capsys)
    assert failed == [f"2 accounts hold the SPN {SPN}: the KDC issues no ticket for it"]
    assert f"key version of {SPN}: 2 ACCOUNTS hold the SPN {SPN} ({DN}, {other})" in lines


def test_a_key_version_the_keytab_lacks_fails(keytab, capsys):
    failed, lines, _ = run(keytab, [SpnAccount(DN, "svc-mlflow-http", 6)], capsys)
    assert (
        f"key version of {SPN}: MISMATCH: the directory's is 6 ({DN}), the keytab holds 4, 5: "
        "export the keytab again"
    ) in lines
    assert failed == [
        f"the keytab holds key version 4, 5 of {SPN}, the directory 6: export the keytab again"
    ]


def test_a_keytab_without_an_http_principal_fails(tmp_path, capsys):
    host_only = write_keytab(
        tmp_path / "host.keytab", [(f"host/mlflow@{REALM}", 1, "aes256-cts")], "x-Passw0rd"
    )
    failed, lines, directory = run(host_only, [], capsys)
    assert failed == [f"keytab {host_only} holds no HTTP/ principal"]
    assert "service principal: NONE: the keytab holds no HTTP/ principal" in lines
    assert directory.asked == []


def test_a_missing_extra_fails_without_importing_it(keytab, capsys, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "gssapi" else real_find_spec(name, *args),
    )
    failed, lines, _ = run(keytab, [SpnAccount(DN, "svc-mlflow-http", 5)], capsys)
    assert failed == [
        "the kerberos extra is not installed: pip install 'mlflow-ldap-auth[kerberos]'"
    ]
    assert "kerberos extra: MISSING (gssapi)" in lines


def test_a_keytab_that_cannot_be_read_fails(tmp_path, capsys):
    failed, lines, _ = run(tmp_path, [], capsys)  # a directory: open() refuses it
    assert failed[-1].startswith(f"keytab {tmp_path} not readable: ")
    assert lines[-1].startswith(f"keytab {tmp_path}: NOT READABLE: ")
