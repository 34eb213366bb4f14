"""Settings: the INI file parsed once into frozen objects.

One file, path in ``MLFLOW_LDAP_AUTH_CONFIG_PATH`` (default: the packaged
``ldap_auth.ini``, which points at the development directory of ``openldap/``).

* ``[mlflow]`` holds the keys of MLflow's own ``basic_auth.ini`` with the same meaning.
* ``[ldap]`` holds the directory settings.

The keys are defined in ``config_keys``; this module reads a file against those
definitions and adds the checks that involve several keys. Every problem found is
collected and reported together in one ``ConfigError`` that names each key and the
file, so an operator fixes the file in one go.

Only the environment handed to ``load_settings`` is read (the config path, the bind
password, MLflow's admin variables), never ``os.environ`` directly.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlflow_ldap_auth.config_keys import (
    AUTHORIZATION_FUNCTION,
    BIND_PASSWORD_ENV,
    PERMISSIONS,
    SECTIONS,
    Key,
    LdapSettings,
    MlflowSettings,
)
from mlflow_ldap_auth.config_values import IN_CHAIN_RULE, INVALID, is_loopback
from mlflow_ldap_auth.errors import ConfigError

__all__ = [
    "AUTHORIZATION_FUNCTION",
    "BIND_PASSWORD_ENV",
    "CONFIG_PATH_ENV",
    "DEFAULT_CONFIG_PATH",
    "PERMISSIONS",
    "LdapSettings",
    "MlflowSettings",
    "Settings",
    "config_path",
    "load_settings",
]

CONFIG_PATH_ENV = "MLFLOW_LDAP_AUTH_CONFIG_PATH"
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "ldap_auth.ini"


@dataclass(frozen=True)
class Settings:
    path: str
    mlflow: MlflowSettings
    ldap: LdapSettings


def config_path(environ: Mapping[str, str]) -> str:
    return environ.get(CONFIG_PATH_ENV) or str(DEFAULT_CONFIG_PATH)


def load_settings(path: str | None = None, *, environ: Mapping[str, str]) -> Settings:
    """Read and validate the file; raise one ``ConfigError`` listing every problem.

    ``environ`` is the only environment consulted: callers pass ``os.environ``.
    """
    path = path or config_path(environ)
    parser = _read_ini(path)
    problems = list(_structure_problems(parser))
    values = {
        section: _read_section(parser, section, keys, environ, problems)
        for section, keys in SECTIONS.items()
    }
    ldap = values["ldap"]
    in_chain_filter = _uses_in_chain_rule(ldap)
    method_given = _given(parser, "ldap", _NESTED_METHOD, environ) is not None
    if in_chain_filter and not method_given:
        ldap["nested_groups_method"] = "in_chain"  # the filter says how: no recursion
    problems += [f"[ldap] {key}: {message}" for key, message in _ldap_rules(ldap)]
    if problems:
        raise ConfigError(path, problems)
    return Settings(
        path=path,
        mlflow=MlflowSettings(**_attributes(SECTIONS["mlflow"], values["mlflow"])),
        ldap=LdapSettings(**_attributes(SECTIONS["ldap"], values["ldap"])),
    )


def _read_ini(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except configparser.Error as exc:
        raise ConfigError(path, [f"not a valid INI file: {exc.message}"]) from None
    return parser


def _structure_problems(parser: configparser.ConfigParser) -> Iterator[str]:
    """Unknown sections and keys, and a missing ``[ldap]``."""
    expected = ", ".join(f"[{section}]" for section in SECTIONS)
    for section in parser.sections():
        if section not in SECTIONS:
            yield f"[{section}]: unknown section (expected {expected})"
    for section, keys in SECTIONS.items():
        if parser.has_section(section):
            known = {key.name for key in keys}
            yield from (
                f"[{section}] {name}: unknown key" for name in parser[section] if name not in known
            )
    if not parser.has_section("ldap"):
        yield "[ldap]: section missing"


def _read_section(
    parser: configparser.ConfigParser,
    section: str,
    keys: tuple[Key, ...],
    environ: Mapping[str, str],
    problems: list[str],
) -> dict[str, Any]:
    """The value of each key by its name; a required key that is missing has none."""
    values: dict[str, Any] = {}
    for key in keys:
        text = _given(parser, section, key, environ)
        if text is None:
            if key.required:
                problems.append(f"[{section}] {key.name}: required: {_plain(key.kind.summary)}")
            else:
                values[key.name] = key.default
            continue
        found: list[str] = []
        value = key.kind.parse(text, found)
        problems += [f"[{section}] {key.name}: {message}" for message in found]
        if value is not INVALID:
            values[key.name] = value
        elif not key.required:
            values[key.name] = key.default
    return values


def _given(
    parser: configparser.ConfigParser, section: str, key: Key, environ: Mapping[str, str]
) -> str | None:
    """The key's text: its environment variable if set, else the file's; None if empty."""
    if key.env and environ.get(key.env):
        return environ[key.env]
    if not parser.has_section(section):
        return None
    text = parser[section].get(key.name)
    return (text.strip() or None) if text is not None else None


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def _attributes(keys: tuple[Key, ...], values: dict[str, Any]) -> dict[str, Any]:
    return {key.attribute: values[key.name] for key in keys if key.attribute is not None}


_NESTED_METHOD = next(key for key in SECTIONS["ldap"] if key.name == "nested_groups_method")


def _uses_in_chain_rule(ldap: Mapping[str, Any]) -> bool:
    search_filter = ldap.get("group_search_filter")
    return isinstance(search_filter, str) and IN_CHAIN_RULE in search_filter


def _ldap_rules(ldap: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The checks that involve several ``[ldap]`` keys, as (key, problem) pairs."""
    if not (ldap["start_tls"] or ldap["allow_plaintext"]):
        for uri in ldap.get("server_uri", ()):
            parts = urlsplit(uri)
            if parts.scheme == "ldap" and not is_loopback(parts.hostname or ""):
                yield (
                    "server_uri",
                    f"{uri!r} would send passwords in plain text; use ldaps://, "
                    "set start_tls = true, or set allow_plaintext = true",
                )
    if ldap["bind_dn"] is not None and ldap["bind_password"] is None:
        yield "bind_password", f"required with bind_dn (or set {BIND_PASSWORD_ENV})"
    if ldap["user_dn_template"] is None and ldap["user_search_base"] is None:
        yield (
            "user_search_base",
            "set user_search_base (search-then-bind) or user_dn_template (direct bind)",
        )
    in_chain_filter = _uses_in_chain_rule(ldap)
    method = ldap.get("nested_groups_method")
    if (method == "in_chain") != in_chain_filter and method != "token_groups":
        yield (
            "nested_groups_method",
            "in_chain needs AD's in-chain rule in group_search_filter, e.g. "
            "(member:1.2.840.113556.1.4.1941:={user_dn})"
            if method == "in_chain"
            else "group_search_filter uses AD's in-chain rule: set in_chain (or leave it out)",
        )
    for key in ("admin_groups", "allowed_groups"):
        if ldap[key] and ldap["group_search_base"] is None:
            yield key, "needs group_search_base to find a user's groups"
