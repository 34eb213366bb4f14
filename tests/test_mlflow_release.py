"""An MLflow outside the supported range stops `mlflow server` with one line."""

import os

import pytest

from mlflow_ldap_auth.mlflow_compat.version import (
    SUPPORTED_MLFLOW,
    UnsupportedMlflow,
    check_supported,
)
from servers import MlflowServer, ldap_config


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
    status = server.wait_exit(timeout=60)
    log = server.log()
    assert status != 0
    lines = [line for line in log.splitlines() if "supports MLflow" in line]
    assert len(lines) == 1, log
    assert "3.19.0" in lines[0] and str(SUPPORTED_MLFLOW) in lines[0]
    assert "Traceback" not in log and "AttributeError" not in log
