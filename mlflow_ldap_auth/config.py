"""Settings: the INI file parsed once into frozen objects.

One file, path in ``MLFLOW_LDAP_AUTH_CONFIG_PATH`` (default: the packaged
``ldap_auth.ini``, which points at the development directory of ``openldap/``).

* ``[mlflow]`` holds the keys of MLflow's own ``basic_auth.ini`` with the same meaning.
* ``[ldap]`` holds the directory settings.

Every problem found is collected and reported together in one ``ConfigError`` that
names each key and the file, so an operator fixes the file in one go.

Naming: ``*_dn`` is a DN string, ``*_dns`` a tuple of DN strings, ``*_uri`` an LDAP URL.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mlflow_ldap_auth.errors import ConfigError
from mlflow_ldap_auth.ldap.dn import InvalidDn, parse_dn

CONFIG_PATH_ENV = "MLFLOW_LDAP_AUTH_CONFIG_PATH"
BIND_PASSWORD_ENV = "MLFLOW_LDAP_BIND_PASSWORD"
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "ldap_auth.ini"
AUTHORIZATION_FUNCTION = "mlflow_ldap_auth.web.authn:authenticate_request"

PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


@dataclass(frozen=True)
class MlflowSettings:
    """``[mlflow]``: what MLflow's auth engine reads from ``basic_auth.ini``."""

    default_permission: str = "READ"
    database_uri: str = "sqlite:///ldap_auth.db"
    read_database_uri: str | None = None
    admin_username: str = "admin"
    admin_password: str | None = field(default=None, repr=False)
    grant_default_workspace_access: bool = False
    workspace_cache_max_size: int = 10000
    workspace_cache_ttl_seconds: int = 3600


@dataclass(frozen=True)
class LdapSettings:
    """``[ldap]``: how to reach the directory and read people and groups from it."""

    server_uris: tuple[str, ...]
    start_tls: bool = False
    tls_ca_cert_file: str | None = None
    tls_verify: bool = True
    allow_plaintext: bool = False
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, repr=False)
    user_dn_template: str | None = None
    user_search_base: str | None = None
    user_search_filter: str = "(uid={username})"
    username_attribute: str = "uid"
    group_search_base: str | None = None
    group_search_filter: str = "(|(member={user_dn})(uniqueMember={user_dn}))"
    group_name_attribute: str = "cn"
    nested_groups: bool = True
    admin_group_dns: tuple[str, ...] = ()
    allowed_group_dns: tuple[str, ...] = ()
    cache_ttl_seconds: int = 300
    cache_max_size: int = 10000
    negative_cache_ttl_seconds: int = 30
    connect_timeout: int = 5
    receive_timeout: int = 10
    permission_cache_ttl_seconds: int = 10
    #: ``search``: group_search_filter (recursion unless it uses AD's in-chain rule);
    #: ``token_groups``: AD's tokenGroups attribute of the user, then one search.
    nested_groups_method: str = "search"
    #: NetBIOS domain names accepted (and removed) in ``DOMAIN\\user`` logins.
    login_domains: tuple[str, ...] = ()
    #: Password-spraying guard: at most this many failed binds per account reach the
    #: directory within ``lockout_window_seconds`` (0 turns the guard off).
    lockout_threshold: int = 3
    lockout_window_seconds: int = 900

    @property
    def uses_search(self) -> bool:
        """Search-then-bind (a user search base is set) rather than a DN template."""
        return self.user_dn_template is None


@dataclass(frozen=True)
class Settings:
    path: str
    mlflow: MlflowSettings
    ldap: LdapSettings


_MLFLOW_KEYS = {
    "default_permission",
    "database_uri",
    "read_database_uri",
    "admin_username",
    "admin_password",
    "grant_default_workspace_access",
    "workspace_cache_max_size",
    "workspace_cache_ttl_seconds",
    "authorization_function",
    # basic-auth's own credential cache; ldap-auth has its own ([ldap] cache_*).
    "auth_cache_max_size",
    "auth_cache_ttl_seconds",
}
_LDAP_KEYS = {
    "server_uri",
    "start_tls",
    "tls_ca_cert_file",
    "tls_verify",
    "allow_plaintext",
    "bind_dn",
    "bind_password",
    "user_dn_template",
    "user_search_base",
    "user_search_filter",
    "username_attribute",
    "group_search_base",
    "group_search_filter",
    "group_name_attribute",
    "nested_groups",
    "admin_groups",
    "allowed_groups",
    "cache_ttl_seconds",
    "cache_max_size",
    "negative_cache_ttl_seconds",
    "connect_timeout",
    "receive_timeout",
    "permission_cache_ttl_seconds",
    "login_domains",
    "nested_groups_method",
    "lockout_threshold",
    "lockout_window_seconds",
}
_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


def config_path() -> str:
    return os.environ.get(CONFIG_PATH_ENV) or str(DEFAULT_CONFIG_PATH)


def load_settings(path: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the file; raise one ``ConfigError`` listing every problem."""
    path = path or config_path()
    environ = os.environ if environ is None else environ
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except configparser.Error as exc:
        raise ConfigError(path, [f"not a valid INI file: {exc.message}"]) from None
    reader = _SectionReader(path, parser)
    mlflow = reader.mlflow_settings()
    ldap = reader.ldap_settings(environ)
    if reader.problems:
        raise ConfigError(path, reader.problems)
    return Settings(path=path, mlflow=mlflow, ldap=ldap)


class _SectionReader:
    """Reads typed values, recording problems instead of stopping at the first."""

    def __init__(self, path: str, parser: configparser.ConfigParser) -> None:
        self.path = path
        self.parser = parser
        self.problems: list[str] = []
        for section in parser.sections():
            if section not in ("mlflow", "ldap"):
                self.problems.append(f"[{section}]: unknown section (expected [mlflow], [ldap])")
        for section, known in (("mlflow", _MLFLOW_KEYS), ("ldap", _LDAP_KEYS)):
            if parser.has_section(section):
                for key in parser[section]:
                    if key not in known:
                        self.problems.append(f"[{section}] {key}: unknown key")
        if not parser.has_section("ldap"):
            self.problems.append("[ldap]: section missing")

    def _raw(self, section: str, key: str) -> str | None:
        if not self.parser.has_section(section):
            return None
        value = self.parser[section].get(key)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def _problem(self, section: str, key: str, message: str) -> None:
        self.problems.append(f"[{section}] {key}: {message}")

    def text(self, section: str, key: str, default: str | None = None) -> str | None:
        value = self._raw(section, key)
        return default if value is None else value

    def boolean(self, section: str, key: str, default: bool) -> bool:
        value = self._raw(section, key)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        self._problem(section, key, f"expected true or false, got {value!r}")
        return default

    def integer(self, section: str, key: str, default: int, minimum: int = 1) -> int:
        value = self._raw(section, key)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self._problem(section, key, f"expected a whole number, got {value!r}")
            return default
        if number < minimum:
            self._problem(section, key, f"must be at least {minimum}, got {number}")
            return default
        return number

    def choice(self, section: str, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._raw(section, key)
        if value is None:
            return default
        if value.lower() not in allowed:
            self._problem(section, key, f"must be one of {', '.join(allowed)}, got {value!r}")
            return default
        return value.lower()

    def dn(self, section: str, key: str, value: str) -> str | None:
        try:
            parse_dn(value)
        except InvalidDn as exc:
            self._problem(section, key, f"not a valid DN: {value!r} ({exc.reason})")
            return None
        return value

    def dn_list(self, section: str, key: str) -> tuple[str, ...]:
        value = self._raw(section, key)
        if value is None:
            return ()
        dns = [part.strip() for part in value.split(";") if part.strip()]
        return tuple(dn for dn in dns if self.dn(section, key, dn) is not None)

    def template(self, section: str, key: str, value: str | None, allowed: set[str]) -> None:
        """Check that ``value`` only uses the ``{placeholders}`` in ``allowed``."""
        if value is None:
            return
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            self._problem(section, key, f"bad placeholder syntax: {exc}")
            return
        unknown = names - allowed
        if unknown:
            self._problem(
                section,
                key,
                f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}",
            )
        elif not names:
            self._problem(section, key, f"must contain one of {sorted(allowed)}")

    # -- sections --------------------------------------------------------
    def mlflow_settings(self) -> MlflowSettings:
        s = "mlflow"
        defaults = MlflowSettings()
        permission = self.text(s, "default_permission", defaults.default_permission).upper()
        if permission not in PERMISSIONS:
            self._problem(s, "default_permission", f"must be one of {', '.join(PERMISSIONS)}")
        function = self.text(s, "authorization_function")
        if function is not None and function != AUTHORIZATION_FUNCTION:
            self._problem(
                s,
                "authorization_function",
                f"ldap-auth supplies its own ({AUTHORIZATION_FUNCTION}); remove the key",
            )
        # MLflow's own environment overrides for the break-glass admin still apply.
        admin_username = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME") or self.text(
            s, "admin_username", defaults.admin_username
        )
        admin_password = os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD") or self.text(
            s, "admin_password"
        )
        self.integer(s, "auth_cache_max_size", 10000)
        self.integer(s, "auth_cache_ttl_seconds", 0, minimum=0)
        return MlflowSettings(
            default_permission=permission,
            database_uri=self.text(s, "database_uri", defaults.database_uri),
            read_database_uri=self.text(s, "read_database_uri"),
            admin_username=admin_username,
            admin_password=admin_password,
            grant_default_workspace_access=self.boolean(
                s, "grant_default_workspace_access", defaults.grant_default_workspace_access
            ),
            workspace_cache_max_size=self.integer(
                s, "workspace_cache_max_size", defaults.workspace_cache_max_size
            ),
            workspace_cache_ttl_seconds=self.integer(
                s, "workspace_cache_ttl_seconds", defaults.workspace_cache_ttl_seconds
            ),
        )

    def ldap_settings(self, environ) -> LdapSettings:
        s = "ldap"
        uris = tuple((self.text(s, "server_uri") or "").split())
        start_tls = self.boolean(s, "start_tls", False)
        allow_plaintext = self.boolean(s, "allow_plaintext", False)
        if not uris:
            self._problem(s, "server_uri", "required: one or more ldap:// or ldaps:// URIs")
        for uri in uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
                self._problem(s, "server_uri", f"{uri!r} is not an ldap:// or ldaps:// URI")
                continue
            try:
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                self._problem(s, "server_uri", f"{uri!r} has an invalid port")
                continue
            if (
                parts.scheme == "ldap"
                and not start_tls
                and not allow_plaintext
                and not _is_loopback(parts.hostname)
            ):
                self._problem(
                    s,
                    "server_uri",
                    f"{uri!r} would send passwords in plain text; use ldaps://, "
                    "set start_tls = true, or set allow_plaintext = true",
                )

        ca_file = self.text(s, "tls_ca_cert_file")
        if ca_file is not None and not os.path.isfile(ca_file):
            self._problem(s, "tls_ca_cert_file", f"no such file: {ca_file}")

        bind_dn = self.text(s, "bind_dn")
        if bind_dn is not None and not _is_ad_bind_name(bind_dn):
            self.dn(s, "bind_dn", bind_dn)
        bind_password = environ.get(BIND_PASSWORD_ENV) or self.text(s, "bind_password")
        if bind_dn is not None and bind_password is None:
            self._problem(s, "bind_password", f"required with bind_dn (or set {BIND_PASSWORD_ENV})")

        user_dn_template = self.text(s, "user_dn_template")
        user_search_base = self.text(s, "user_search_base")
        user_search_filter = self.text(s, "user_search_filter", "(uid={username})")
        self.template(s, "user_dn_template", user_dn_template, {"username"})
        self.template(s, "user_search_filter", user_search_filter, {"username"})
        _check_filter_syntax(self, s, "user_search_filter", user_search_filter)
        if user_search_base is not None:
            self.dn(s, "user_search_base", user_search_base)
        if user_dn_template is None and user_search_base is None:
            self._problem(
                s,
                "user_search_base",
                "set user_search_base (search-then-bind) or user_dn_template (direct bind)",
            )

        group_search_base = self.text(s, "group_search_base")
        group_search_filter = self.text(
            s, "group_search_filter", "(|(member={user_dn})(uniqueMember={user_dn}))"
        )
        if group_search_base is not None:
            self.dn(s, "group_search_base", group_search_base)
        self.template(s, "group_search_filter", group_search_filter, {"user_dn", "username"})
        _check_filter_syntax(self, s, "group_search_filter", group_search_filter)
        admin_group_dns = self.dn_list(s, "admin_groups")
        allowed_group_dns = self.dn_list(s, "allowed_groups")
        for key, dns in (("admin_groups", admin_group_dns), ("allowed_groups", allowed_group_dns)):
            if dns and group_search_base is None:
                self._problem(s, key, "needs group_search_base to find a user's groups")

        return LdapSettings(
            server_uris=uris,
            start_tls=start_tls,
            tls_ca_cert_file=ca_file,
            tls_verify=self.boolean(s, "tls_verify", True),
            allow_plaintext=allow_plaintext,
            bind_dn=bind_dn,
            bind_password=bind_password,
            user_dn_template=user_dn_template,
            user_search_base=user_search_base,
            user_search_filter=user_search_filter,
            username_attribute=self.text(s, "username_attribute", "uid"),
            group_search_base=group_search_base,
            group_search_filter=group_search_filter,
            group_name_attribute=self.text(s, "group_name_attribute", "cn"),
            nested_groups=self.boolean(s, "nested_groups", True),
            admin_group_dns=admin_group_dns,
            allowed_group_dns=allowed_group_dns,
            cache_ttl_seconds=self.integer(s, "cache_ttl_seconds", 300),
            cache_max_size=self.integer(s, "cache_max_size", 10000),
            negative_cache_ttl_seconds=self.integer(s, "negative_cache_ttl_seconds", 30, 0),
            connect_timeout=self.integer(s, "connect_timeout", 5),
            receive_timeout=self.integer(s, "receive_timeout", 10),
            permission_cache_ttl_seconds=self.integer(s, "permission_cache_ttl_seconds", 10, 0),
            nested_groups_method=self.choice(
                s, "nested_groups_method", "search", ("search", "token_groups")
            ),
            login_domains=tuple(
                part.strip()
                for part in (self.text(s, "login_domains") or "").split(";")
                if part.strip()
            ),
            lockout_threshold=self.integer(s, "lockout_threshold", 3, minimum=0),
            lockout_window_seconds=self.integer(s, "lockout_window_seconds", 900),
        )


def _check_filter_syntax(reader: _SectionReader, section: str, key: str, value: str) -> None:
    if not (value.startswith("(") and value.endswith(")")):
        reader._problem(section, key, "an LDAP filter must be enclosed in parentheses")
        return
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        reader._problem(section, key, "unbalanced parentheses")


def _is_ad_bind_name(name: str) -> bool:
    """Active Directory also binds as ``user@realm`` (UPN) or ``DOMAIN\\user``."""
    return bool(
        re.fullmatch(r"[^@\s,=]+@[^@\s,=]+", name) or re.fullmatch(r"[^\\,=]+\\[^\\,=]+", name)
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
