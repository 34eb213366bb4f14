"""``load_settings`` reads the environment it is given and no other."""

import pytest

from mlflow_ldap_auth.config import DEFAULT_CONFIG_PATH, load_settings

MINIMAL = """
[mlflow]
admin_username = file-admin
admin_password = file-password
[ldap]
server_uri = ldap://127.0.0.1:3389
user_search_base = ou=people,dc=example,dc=org
bind_dn = cn=svc,dc=example,dc=org
bind_password = file-bind
"""

ENVIRONMENT = {
    "MLFLOW_AUTH_ADMIN_USERNAME": "env-admin",
    "MLFLOW_AUTH_ADMIN_PASSWORD": "env-password",
    "MLFLOW_LDAP_BIND_PASSWORD": "env-bind",
}


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.ini"
    path.write_text(MINIMAL)
    return str(path)


def test_the_given_environment_overrides_the_file(config):
    settings = load_settings(config, environ=ENVIRONMENT)
    assert (settings.mlflow.admin_username, settings.mlflow.admin_password) == (
        "env-admin",
        "env-password",
    )
    assert settings.ldap.bind_password == "env-bind"
    assert "env-password" not in repr(settings) and "env-bind" not in repr(settings)


def test_process_environment_is_not_read(config, monkeypatch, tmp_path):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_LDAP_AUTH_CONFIG_PATH", str(tmp_path / "absent.ini"))
    settings = load_settings(config, environ={})
    assert settings.mlflow.admin_username == "file-admin"
    assert settings.mlflow.admin_password == "file-password"
    assert settings.ldap.bind_password == "file-bind"
    assert load_settings(environ={}).path == str(DEFAULT_CONFIG_PATH)


def test_empty_variables_fall_back_to_the_file(config):
    settings = load_settings(config, environ=dict.fromkeys(ENVIRONMENT, ""))
    assert settings.mlflow.admin_username == "file-admin"
    assert settings.ldap.bind_password == "file-bind"


def test_config_path_from_the_given_environment(config):
    settings = load_settings(environ={"MLFLOW_LDAP_AUTH_CONFIG_PATH": config})
    assert settings.path == config
    assert load_settings("", environ={"MLFLOW_LDAP_AUTH_CONFIG_PATH": config}).path == config


def test_packaged_default_file_loads():
    settings = load_settings(environ={})
    assert settings.ldap.server_uris == ("ldap://127.0.0.1:3389",)
    assert settings.ldap.admin_group_dns == ("cn=mlflow-admins,ou=groups,dc=example,dc=org",)


def test_bind_password_from_environment_alone_satisfies_bind_dn(config, tmp_path):
    path = tmp_path / "no-password.ini"
    path.write_text(MINIMAL.replace("bind_password = file-bind\n", ""))
    settings = load_settings(str(path), environ={"MLFLOW_LDAP_BIND_PASSWORD": "env-bind"})
    assert settings.ldap.bind_password == "env-bind"


def test_the_environment_must_be_passed(config):
    with pytest.raises(TypeError):
        load_settings(config)  # type: ignore[call-arg]
