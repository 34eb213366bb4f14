"""The key definitions are the one source: settings fields, known keys, the docs' tables."""

from dataclasses import dataclass, fields
from pathlib import Path
from typing import get_type_hints

import pytest

from mlflow_ldap_auth.config import LdapSettings, MlflowSettings, load_settings
from mlflow_ldap_auth.config_docs import table, update_tables
from mlflow_ldap_auth.config_keys import SECTIONS, keys_of
from mlflow_ldap_auth.config_values import Text
from mlflow_ldap_auth.errors import ConfigError

CONFIGURATION_PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ALL_KEYS = [(section, key) for section, keys in SECTIONS.items() for key in keys]


def test_the_configuration_page_tables_match_the_definitions():
    text = CONFIGURATION_PAGE.read_text(encoding="utf-8")
    if update_tables(text) != text:
        expected = "\n\n".join(f"[{section}]\n{table(section)}" for section in SECTIONS)
        pytest.fail(
            "docs/configuration.md's key tables differ from mlflow_ldap_auth/config_keys.py; "
            "rewrite them with `python -m mlflow_ldap_auth.config_docs docs/configuration.md`. "
            "Expected:\n" + expected
        )


def test_update_tables_replaces_only_the_tables():
    stale = "intro\n`[mlflow]` keys:\n\n| old |\n|---|\n\nmiddle\n`[ldap]`:\n\n| x |\nend\n"
    updated = update_tables(stale)
    assert updated.startswith("intro\n`[mlflow]` keys:\n\n| key | value | default | meaning |")
    assert "\n\nmiddle\n`[ldap]`:\n\n| key |" in updated and updated.endswith("|\nend\n")
    assert "| old |" not in updated and "| x |" not in updated
    with pytest.raises(ValueError, match=r"\[ldap\]"):
        update_tables("`[mlflow]`\n| a |\n")


@pytest.mark.parametrize("settings_class", [MlflowSettings, LdapSettings])
def test_each_field_type_is_what_its_kind_parses(settings_class):
    hints = get_type_hints(settings_class)
    for key in keys_of(settings_class):
        expected = key.kind.python_type
        if key.default is None:
            expected = expected | None
        assert hints[key.attribute] == expected, key.name


def test_fields_and_keys_are_the_same_set():
    for settings_class, section in ((MlflowSettings, "mlflow"), (LdapSettings, "ldap")):
        attributes = {key.attribute for key in SECTIONS[section] if key.attribute}
        assert attributes == {item.name for item in fields(settings_class)}
    names = [key.name for _, key in ALL_KEYS]
    assert len(names) == len(set(names))


def test_a_field_without_a_definition_is_refused():
    @dataclass(frozen=True)
    class Loose:
        colour: str = "blue"

    with pytest.raises(TypeError, match=r"Loose\.colour"):
        keys_of(Loose)


def test_secrets_are_plain_text_kept_out_of_repr():
    secrets = {key.name for _, key in ALL_KEYS if key.secret}
    assert secrets == {"admin_password", "bind_password"}
    for settings_class in (MlflowSettings, LdapSettings):
        for item, key in zip(fields(settings_class), keys_of(settings_class), strict=True):
            assert item.repr is not key.secret
            assert not key.secret or isinstance(key.kind, Text)


WITH_DEFAULTS = [key for _, key in ALL_KEYS if not key.required and key.default not in (None, ())]


@pytest.mark.parametrize("key", WITH_DEFAULTS, ids=[key.name for key in WITH_DEFAULTS])
def test_a_default_written_out_reads_back_as_itself(key):
    problems: list[str] = []
    assert key.kind.parse(key.kind.render(key.default), problems) == key.default
    assert problems == []


def test_every_defined_key_is_accepted_and_nothing_else(tmp_path):
    required = {
        "server_uri": "ldap://127.0.0.1:3389",
        "user_search_base": "ou=people,dc=example,dc=org",
    }
    lines = []
    for section, keys in SECTIONS.items():
        lines.append(f"[{section}]")
        lines += [
            f"{key.name} = {key.kind.render(key.default)}" for key in keys if key in WITH_DEFAULTS
        ]
        lines += [f"{key.name} = {required[key.name]}" for key in keys if key.name in required]
    path = tmp_path / "all.ini"
    path.write_text("\n".join(lines) + "\n")
    settings = load_settings(str(path), environ={})
    assert settings.ldap == LdapSettings(
        server_uris=("ldap://127.0.0.1:3389",), user_search_base="ou=people,dc=example,dc=org"
    )
    assert settings.mlflow == MlflowSettings()
    path.write_text("\n".join(lines) + "\nserver_uris = ldap://127.0.0.1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), environ={})
    assert info.value.problems == ["[ldap] server_uris: unknown key"]


IN_CHAIN_FILTER = "(member:1.2.840.113556.1.4.1941:={user_dn})"


def _ad_config(tmp_path, **ldap) -> str:
    lines = [
        "[ldap]",
        "server_uri = ldap://127.0.0.1:3389",
        "user_search_base = ou=people,dc=example,dc=org",
        "group_search_base = ou=groups,dc=example,dc=org",
        *(f"{key} = {value}" for key, value in ldap.items()),
    ]
    path = tmp_path / "ldap_auth.ini"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_an_in_chain_filter_makes_in_chain_the_method_unless_one_is_named(tmp_path):
    from mlflow_ldap_auth.config import load_settings

    given = _ad_config(tmp_path, group_search_filter=IN_CHAIN_FILTER)
    assert load_settings(given, environ={}).ldap.nested_groups_method == "in_chain"
    tokens = _ad_config(
        tmp_path, group_search_filter=IN_CHAIN_FILTER, nested_groups_method="token_groups"
    )
    assert load_settings(tokens, environ={}).ldap.nested_groups_method == "token_groups"
    plain = _ad_config(tmp_path)
    assert load_settings(plain, environ={}).ldap.nested_groups_method == "search"


@pytest.mark.parametrize(
    ("search_filter", "method", "message"),
    [
        (None, "in_chain", "in_chain needs AD's in-chain rule"),
        (IN_CHAIN_FILTER, "search", "uses AD's in-chain rule: set in_chain"),
    ],
)
def test_a_method_that_contradicts_the_filter_is_refused(tmp_path, search_filter, method, message):
    from mlflow_ldap_auth.config import load_settings
    from mlflow_ldap_auth.errors import ConfigError

    values = {"nested_groups_method": method}
    if search_filter:
        values["group_search_filter"] = search_filter
    with pytest.raises(ConfigError, match=message):
        load_settings(_ad_config(tmp_path, **values), environ={})
