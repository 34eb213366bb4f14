"""Configuration parsing: pure, no servers."""

import pytest

from mlflow_ldap_auth.config import load_settings
from mlflow_ldap_auth.errors import ConfigError

MINIMAL = """
[ldap]
server_uri = ldap://127.0.0.1:3389
user_search_base = ou=people,dc=example,dc=org
"""


def write(tmp_path, text):
    path = tmp_path / "c.ini"
    path.write_text(text)
    return str(path)


def test_minimal_file_gets_documented_defaults(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL), environ={})
    ldap = settings.ldap
    assert ldap.server_uris == ("ldap://127.0.0.1:3389",)
    assert ldap.user_search_filter == "(uid={username})"
    assert ldap.username_attribute == "uid"
    assert ldap.tls_verify is True and ldap.start_tls is False
    assert (ldap.cache_ttl_seconds, ldap.cache_max_size) == (300, 10000)
    assert ldap.negative_cache_ttl_seconds == 30
    assert (ldap.connect_timeout, ldap.receive_timeout) == (5, 10)
    assert settings.mlflow.default_permission == "READ"
    assert settings.mlflow.admin_username == "admin"


def test_all_problems_reported_together_with_key_and_file(tmp_path):
    path = write(
        tmp_path,
        """
[mlflow]
default_permission = WRITE
[ldap]
server_uri = http://ldap.example.org
cache_ttl_seconds = soon
start_tls = perhaps
user_search_filter = (uid={user})
admin_groups = not a dn
colour = blue
""",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert path in message
    for expected in (
        "[mlflow] default_permission",
        "[ldap] server_uri",
        "[ldap] cache_ttl_seconds",
        "[ldap] start_tls",
        "[ldap] user_search_filter",
        "[ldap] admin_groups",
        "[ldap] colour: unknown key",
        "[ldap] user_search_base",
    ):
        assert expected in message, expected


def test_plaintext_to_remote_host_refused_unless_allowed(tmp_path):
    remote = MINIMAL.replace("127.0.0.1:3389", "ldap.example.org")
    with pytest.raises(ConfigError, match="plain text"):
        load_settings(write(tmp_path, remote), environ={})
    assert load_settings(write(tmp_path, remote + "start_tls = true\n"), environ={})
    assert load_settings(write(tmp_path, remote + "allow_plaintext = true\n"), environ={})
    ldaps = MINIMAL.replace("ldap://127.0.0.1:3389", "ldaps://ldap.example.org")
    assert load_settings(write(tmp_path, ldaps), environ={})


def test_bind_password_from_environment_overrides_file(tmp_path):
    text = MINIMAL + "bind_dn = cn=svc,dc=example,dc=org\nbind_password = from-file\n"
    settings = load_settings(
        write(tmp_path, text), environ={"MLFLOW_LDAP_BIND_PASSWORD": "from-env"}
    )
    assert settings.ldap.bind_password == "from-env"
    assert "from-env" not in repr(settings)


def test_bind_dn_without_password_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="bind_password"):
        load_settings(write(tmp_path, MINIMAL + "bind_dn = cn=svc,dc=x\n"), environ={})


def test_several_servers_and_group_lists(tmp_path):
    text = MINIMAL.replace("ldap://127.0.0.1:3389", "ldap://127.0.0.1:1 ldaps://127.0.0.1:2") + (
        "group_search_base = ou=groups,dc=example,dc=org\n"
        "admin_groups = cn=a,ou=groups,dc=example,dc=org; cn=b,ou=groups,dc=example,dc=org\n"
    )
    ldap = load_settings(write(tmp_path, text), environ={}).ldap
    assert ldap.server_uris == ("ldap://127.0.0.1:1", "ldaps://127.0.0.1:2")
    assert len(ldap.admin_group_dns) == 2


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(str(tmp_path / "absent.ini"), environ={})


def test_foreign_authorization_function_refused(tmp_path):
    text = "[mlflow]\nauthorization_function = mlflow.server.auth:x\n" + MINIMAL
    with pytest.raises(ConfigError, match="authorization_function"):
        load_settings(write(tmp_path, text), environ={})


def test_lockout_keys(tmp_path):
    ldap = load_settings(write(tmp_path, MINIMAL), environ={}).ldap
    assert (ldap.lockout_threshold, ldap.lockout_window_seconds) == (3, 900)
    off = load_settings(
        write(tmp_path, MINIMAL + "lockout_threshold = 0\nlockout_window_seconds = 60\n"),
        environ={},
    ).ldap
    assert (off.lockout_threshold, off.lockout_window_seconds) == (0, 60)
    with pytest.raises(ConfigError) as info:
        load_settings(
            write(tmp_path, MINIMAL + "lockout_threshold = -1\nlockout_window_seconds = 0\n"),
            environ={},
        )
    assert "[ldap] lockout_threshold: must be at least 0" in str(info.value)
    assert "[ldap] lockout_window_seconds: must be at least 1" in str(info.value)


def test_group_dns_as_ad_tools_spell_them(tmp_path):
    text = MINIMAL + (
        "group_search_base = OU=Groups, DC=Example, DC=Org\n"
        "admin_groups = CN=MLflow Admins, OU=Groups, DC=Example, DC=Org ; "
        "cn = Smith\\, John , ou=groups,dc=example,dc=org\n"
    )
    ldap = load_settings(write(tmp_path, text), environ={}).ldap
    assert len(ldap.admin_group_dns) == 2
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text + "allowed_groups = cn=a+ou=b,,dc=x\n"), environ={})
    assert "[ldap] allowed_groups: not a valid DN: 'cn=a+ou=b,,dc=x'" in str(info.value)


def test_audit_retention_days(tmp_path):
    assert load_settings(write(tmp_path, MINIMAL), environ={}).ldap.audit_retention_days == 30
    text = MINIMAL + "audit_retention_days = 0\n"
    assert load_settings(write(tmp_path, text), environ={}).ldap.audit_retention_days == 0
    text = MINIMAL + "audit_retention_days = 7\n"
    assert load_settings(write(tmp_path, text), environ={}).ldap.audit_retention_days == 7
    for bad, problem in (("-1", "must be at least 0"), ("a week", "expected a whole number")):
        with pytest.raises(ConfigError) as info:
            load_settings(write(tmp_path, MINIMAL + f"audit_retention_days = {bad}\n"), environ={})
        assert f"[ldap] audit_retention_days: {problem}" in str(info.value)
        assert str(tmp_path) in str(info.value)
