"""`python -m mlflow_ldap_auth check` against the real slapd."""

from servers import DATA_SCIENCE_DN, free_port, ldap_config, run_cli


def check(config, *args):
    return run_cli(config, "check", *args)


def test_check_with_user_lists_direct_and_nested_groups(slapd, tmp_path):
    result = check(ldap_config(tmp_path, slapd.ldap_uri), "--user", "bob")
    assert result.returncode == 0, result.stderr
    assert f"group (nested): {DATA_SCIENCE_DN}" in result.stdout
    assert "mlflow username: bob" in result.stdout
    assert "check: ok" in result.stdout


def test_check_fails_on_wrong_service_password(slapd, tmp_path):
    result = check(ldap_config(tmp_path, slapd.ldap_uri, bind_password="Wr0ng-Service-Pw"))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "service bind" in result.stderr
    assert "Wr0ng-Service-Pw" not in result.stdout + result.stderr


def test_check_fails_when_a_server_is_down(slapd, tmp_path):
    dead = f"ldap://127.0.0.1:{free_port()}"
    result = check(ldap_config(tmp_path, f"{slapd.ldap_uri} {dead}"))
    assert result.returncode == 1
    assert dead in result.stderr


def test_check_fails_for_unknown_user(slapd, tmp_path):
    result = check(ldap_config(tmp_path, slapd.ldap_uri), "--user", "nobody")
    assert result.returncode == 1
    assert "not found" in result.stderr


def test_check_reports_bad_config(tmp_path):
    result = check(ldap_config(tmp_path, "http://x"))
    assert result.returncode == 2
    assert "server_uri" in result.stderr
