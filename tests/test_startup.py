"""How `mlflow server --app-name ldap-auth` starts: bad configs stop it with one message."""

import requests

from servers import start_server


def test_bad_config_stops_the_server_with_one_message_naming_key_and_file(slapd, tmp_path):
    with start_server(
        tmp_path, slapd, ready=False, cache_ttl_seconds="soon", colour="blue"
    ) as server:
        status = server.wait_exit()
    config, log = server.config_path, server.log()
    assert status != 0
    assert "cache_ttl_seconds" in log and "colour: unknown key" in log
    assert str(config) in log
    assert "Traceback" not in log
    assert log.count("invalid configuration") == 1  # once, not once per restarting worker


def test_missing_config_file_stops_the_server(tmp_path):
    with start_server(tmp_path, config=tmp_path / "does-not-exist.ini", ready=False) as server:
        assert server.wait_exit() != 0
    assert "cannot read the file" in server.log()
    assert "Traceback" not in server.log()


def test_tls_verify_off_warns_at_start(slapd, tmp_path):
    with start_server(tmp_path, slapd.ldaps_uri, tls_verify="false", admin_groups=None) as server:
        ok = requests.get(
            server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
            auth=("alice", "alice-password"),
            timeout=30,
        )
        assert ok.status_code == 200
        assert "tls_verify = false" in server.log()


def test_runs_under_gunicorn_too(slapd, tmp_path):
    with start_server(tmp_path, slapd, extra_args=["--gunicorn-opts", "--timeout 60"]) as server:
        url = server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0"
        assert requests.get(url, auth=("alice", "alice-password"), timeout=30).status_code == 200
        denied = requests.get(url, auth=("alice", "nope-nope"), timeout=30)
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
        admin_page = requests.get(
            server.url + "/ldap-admin/", auth=("carol", "carol-password"), timeout=30
        )
        assert admin_page.status_code == 200 and "Group mappings" in admin_page.text
        api = requests.get(
            server.url + "/api/2.0/mlflow/ldap-auth/status",
            auth=("carol", "carol-password"),
            timeout=30,
        )
        assert api.status_code == 200 and api.json()["service_bind"]["ok"] is True
