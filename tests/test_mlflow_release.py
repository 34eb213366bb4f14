"""An MLflow outside the supported range stops `mlflow server` with one line."""

import os

import pytest
import requests

from mlflow_ldap_auth.mlflow_compat.version import (
    SUPPORTED_MLFLOW,
    UnsupportedMlflow,
    check_supported,
)
from servers import MlflowServer, ldap_config, start_server


@pytest.mark.parametrize("version", ["3.16.1", "3.19.0", "4.0.0", "not-a-version"])
def test_releases_outside_the_range_are_refused_naming_both_versions(version):
    with pytest.raises(UnsupportedMlflow) as refused:
        check_supported(version)
    assert version in str(refused.value) and str(SUPPORTED_MLFLOW) in str(refused.value)


@pytest.mark.parametrize("version", ["3.17.0", "3.17.2", "3.17.9", "3.18.0", "3.18.5"])
def test_every_3_17_and_3_18_release_is_supported(version):
    check_supported(version)


def test_the_server_stops_with_one_line_when_mlflow_is_too_new(slapd, tmp_path):
    # Python runs sitecustomize at start-up: this one makes MLflow report 3.19.0.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        'import mlflow.version\nmlflow.version.VERSION = "3.19.0"\n'
    )
    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    server = MlflowServer(ldap_config(tmp_path, slapd.ldap_uri), env={"PYTHONPATH": pythonpath})
    server.start_process_only()
    status = server.wait_exit()
    log = server.log()
    assert status != 0
    lines = [line for line in log.splitlines() if "supports MLflow" in line]
    assert len(lines) == 1, log
    assert "3.19.0" in lines[0] and str(SUPPORTED_MLFLOW) in lines[0]
    assert "Traceback" not in log and "AttributeError" not in log


DELEGATION_KEY = "_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY"
DELEGATION_HEADER = "X-MLflow-Assistant-Delegation"


def test_the_server_refuses_to_start_with_assistant_delegation_enabled(slapd, tmp_path):
    """MLflow 3.18 honours a delegation header before the authorization function runs:
    such requests would skip revalidation and allowed_groups, so the key is refused."""
    with start_server(tmp_path, slapd, env={DELEGATION_KEY: "k" * 64}, ready=False) as server:
        status = server.wait_exit()
        log = server.log()
    assert status != 0
    lines = [line for line in log.splitlines() if DELEGATION_KEY in line]
    assert len(lines) == 1, log
    assert "unset it" in lines[0] and "k" * 64 not in log
    assert "Traceback" not in log


def _delegation_credential(username: str, key: str, monkeypatch) -> str:
    """A credential as MLflow's Assistant mints it (3.18), signed with ``key``."""
    try:
        from mlflow.server.assistant import delegation
    except ImportError:  # MLflow 3.17 has no delegation: any value is just a header
        return f"v1:{username}:{2**42}:not-a-signature"
    monkeypatch.setenv(DELEGATION_KEY, key)
    credential = delegation.mint_delegation_credential(username)
    monkeypatch.delenv(DELEGATION_KEY)
    assert credential
    return credential


def test_a_delegation_header_alone_is_no_login(slapd, tmp_path, monkeypatch):
    """An empty key counts as unset (the server starts) and delegation stays off."""
    with start_server(tmp_path, slapd, env={DELEGATION_KEY: ""}) as server:
        for key in ("", "k" * 64):
            headers = {DELEGATION_HEADER: _delegation_credential("admin", key or "x", monkeypatch)}
            answer = requests.get(
                f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1",
                headers=headers,
                timeout=30,
            )
            assert answer.status_code == 401, answer.text
