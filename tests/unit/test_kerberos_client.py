"""``MLFLOW_TRACKING_AUTH=kerberos`` (``kerberos_client``): the provider MLflow picks."""

from __future__ import annotations

import builtins
import subprocess
import sys

import pytest
import requests_gssapi
import tomllib
from package_source import PACKAGE_DIR

from mlflow_ldap_auth.kerberos_client import KerberosAuthProvider

pytestmark = pytest.mark.unit


def test_the_entry_point_names_the_provider():
    project = tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())
    entry_points = project["project"]["entry-points"]["mlflow.request_auth_provider"]
    assert entry_points == {"kerberos": "mlflow_ldap_auth.kerberos_client:KerberosAuthProvider"}
    assert KerberosAuthProvider().get_name() == "kerberos"


def test_the_auth_sends_the_ticket_first_and_checks_the_servers_token():
    auth = KerberosAuthProvider().get_auth()
    assert isinstance(auth, requests_gssapi.HTTPSPNEGOAuth)
    assert auth.opportunistic_auth is True
    assert auth.mutual_authentication == requests_gssapi.OPTIONAL


def test_without_the_extra_the_error_names_it(monkeypatch):
    real_import = builtins.__import__

    def no_requests_gssapi(name, *args, **kwargs):
        if name.startswith("requests_gssapi"):
            raise ImportError("No module named 'requests_gssapi'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_requests_gssapi)
    with pytest.raises(ImportError, match=r"pip install 'mlflow-ldap-auth\[kerberos\]'"):
        KerberosAuthProvider().get_auth()


def test_importing_the_provider_imports_no_kerberos_library():
    code = (
        "import sys, mlflow_ldap_auth.kerberos_client, mlflow_ldap_auth.kerberos.negotiate;"
        "print(sorted(m for m in ('gssapi', 'spnego', 'requests_gssapi') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
