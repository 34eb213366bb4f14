"""The configuration keys, each defined once: as a field of a frozen settings class.

A field made with ``setting()`` (``config_fields``) carries its INI key's definition:
the kind of value (type and constraints), default, one-line meaning, the environment
variable that overrides it, and whether it is a secret. The parser, the unknown-key check and the
key tables of docs/configuration.md (``config_docs``) are derived from these fields, so
adding, renaming or documenting a key is an edit in one place.

Naming: ``*_dn`` is a DN string, ``*_dns`` a tuple of DN strings, ``*_uri`` an LDAP URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow_ldap_auth.config_fields import REQUIRED, Key, keys_of, setting
from mlflow_ldap_auth.config_values import (
    BindName,
    Choice,
    Dn,
    DnList,
    ExistingFile,
    Filter,
    Fixed,
    Flag,
    LdapUris,
    Names,
    Template,
    Text,
    WholeNumber,
)

BIND_PASSWORD_ENV = "MLFLOW_LDAP_BIND_PASSWORD"
AUTHORIZATION_FUNCTION = "mlflow_ldap_auth.web.authn:authenticate_request"
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


@dataclass(frozen=True)
class MlflowSettings:
    """``[mlflow]``: what MLflow's auth engine reads from ``basic_auth.ini``."""

    default_permission: str = setting(
        Choice(PERMISSIONS), "READ", "the permission where no grant or group mapping matches"
    )
    database_uri: str = setting(
        Text(),
        "sqlite:///ldap_auth.db",
        "users, roles, grants and group mappings; PostgreSQL or MySQL for several servers",
    )
    read_database_uri: str | None = setting(
        Text(),
        None,
        "a read-only replica of `database_uri` that reads go to",
        unset="`database_uri`",
    )
    admin_username: str = setting(
        Text(), "admin", "the break-glass local administrator", env="MLFLOW_AUTH_ADMIN_USERNAME"
    )
    admin_password: str | None = setting(
        Text(),
        None,
        "its password, set at the first start (12 or more characters)",
        env="MLFLOW_AUTH_ADMIN_PASSWORD",
        secret=True,
    )
    grant_default_workspace_access: bool = setting(
        Flag(), False, "users get `default_permission` in the reserved `default` workspace"
    )
    workspace_cache_max_size: int = setting(
        WholeNumber(), 10000, "resource-to-workspace lookups remembered per worker"
    )
    workspace_cache_ttl_seconds: int = setting(
        WholeNumber(), 3600, "seconds a resource-to-workspace lookup is remembered"
    )


#: ``[mlflow]`` keys of ``basic_auth.ini`` that are accepted and checked, then ignored.
MLFLOW_IGNORED_KEYS = (
    Key(
        Fixed(AUTHORIZATION_FUNCTION),
        AUTHORIZATION_FUNCTION,
        "MLflow's hook that checks credentials; the plugin sets its own",
        name="authorization_function",
    ),
    Key(
        WholeNumber(),
        10000,
        "basic-auth's credential cache, unused: see `[ldap]` `cache_*`",
        name="auth_cache_max_size",
    ),
    Key(
        WholeNumber(minimum=0),
        0,
        "basic-auth's credential cache, unused: see `[ldap]` `cache_*`",
        name="auth_cache_ttl_seconds",
    ),
)

_SEARCH = "(uid={username})"
_GROUPS = "(|(member={user_dn})(uniqueMember={user_dn}))"


@dataclass(frozen=True)
class LdapSettings:
    """``[ldap]``: how to reach the directory and read people and groups from it."""

    server_uris: tuple[str, ...] = setting(
        LdapUris(),
        REQUIRED,
        "space-separated, tried in order; a failed one is probed every 5 s and used again "
        "as soon as it answers",
        key="server_uri",
    )
    start_tls: bool = setting(Flag(), False, "upgrade `ldap://` with StartTLS")
    tls_ca_cert_file: str | None = setting(
        ExistingFile(), None, "CA bundle that signed the server certificate", unset="system CAs"
    )
    tls_verify: bool = setting(
        Flag(), True, "verify certificate and host name; `false` logs a warning at start"
    )
    allow_plaintext: bool = setting(
        Flag(), False, "allow password binds over plain `ldap://` to a host that is not loopback"
    )
    bind_dn: str | None = setting(
        BindName(), None, "service account for searches", unset="anonymous"
    )
    bind_password: str | None = setting(
        Text(), None, "its password, needed with `bind_dn`", env=BIND_PASSWORD_ENV, secret=True
    )
    user_dn_template: str | None = setting(
        Template(frozenset({"username"})),
        None,
        "direct bind, no search: `uid={username},ou=people,dc=example,dc=org` "
        "or `{username}@corp.example.com`",
    )
    user_search_base: str | None = setting(
        Dn(), None, "search-then-bind: where users are searched for"
    )
    user_search_filter: str = setting(
        Filter(frozenset({"username"})),
        _SEARCH,
        "how the user is found; `{username}` is escaped (RFC 4515)",
    )
    username_attribute: str = setting(Text(), "uid", "attribute whose value is the MLflow username")
    group_search_base: str | None = setting(Dn(), None, "where a user's groups are")
    group_search_filter: str = setting(
        Filter(frozenset({"user_dn", "username"})), _GROUPS, "how a user's groups are found"
    )
    group_name_attribute: str = setting(Text(), "cn", "display name of a group")
    nested_groups: bool = setting(
        Flag(),
        True,
        "groups of groups (how: `nested_groups_method`; recursion is 8 levels, cycle-safe)",
    )
    nested_groups_method: str = setting(
        Choice(("search", "in_chain", "token_groups")),
        "search",
        "`search`: the group filter, level by level; `in_chain`: the group filter uses AD's "
        "in-chain rule, one search (the default when it does); `token_groups`: AD's "
        "`tokenGroups` of the user and one search, security groups only",
    )
    admin_group_dns: tuple[str, ...] = setting(
        DnList(), (), "members of these groups are MLflow admins", key="admin_groups"
    )
    allowed_group_dns: tuple[str, ...] = setting(
        DnList(),
        (),
        "if set, only members of these groups may log in (others get 403)",
        key="allowed_groups",
    )
    cache_ttl_seconds: int = setting(
        WholeNumber(), 300, "seconds a successful login is remembered per worker"
    )
    cache_max_size: int = setting(WholeNumber(), 10000, "logins remembered per worker")
    negative_cache_ttl_seconds: int = setting(
        WholeNumber(minimum=0),
        30,
        "seconds a refused (user, password) pair is answered without a bind",
    )
    connect_timeout: int = setting(WholeNumber(), 5, "seconds to wait for a connection")
    receive_timeout: int = setting(WholeNumber(), 10, "seconds to wait for an answer")
    permission_cache_ttl_seconds: int = setting(
        WholeNumber(minimum=0),
        10,
        "seconds a worker reuses MLflow's answers about users and grants (see below); `0` = off",
    )
    login_domains: tuple[str, ...] = setting(
        Names(),
        (),
        "NetBIOS domain names accepted (and removed) in `DOMAIN\\user` logins, besides the "
        "domain's own name that Active Directory reports",
    )
    lockout_threshold: int = setting(
        WholeNumber(minimum=0),
        3,
        "password-spraying guard: at most this many failed binds per account reach the "
        "directory per window, counted across all workers and servers on `database_uri`, "
        "and one below the directory's own lockout policy where it has one (see Security); "
        "`0` = off",
    )
    lockout_window_seconds: int = setting(WholeNumber(), 900, "the guard's window, in seconds")
    token_max_days: int = setting(
        WholeNumber(), 365, "longest lifetime of an access token, in days (see Tokens)"
    )
    revalidate_interval_seconds: int = setting(
        WholeNumber(minimum=10),
        300,
        "how often the directory entry of a user with tokens in use or a cached password is "
        "re-checked (gone, disabled, locked, password changed, groups), once for the fleet; "
        "an entry that cannot be read while the directory answers refuses the user's tokens "
        "after this long",
    )
    token_outage_grace_seconds: int = setting(
        WholeNumber(minimum=0),
        3600,
        "while no directory server answers, tokens keep working this long after the owner's "
        "last successful check, then 503",
    )
    login_page: bool = setting(
        Flag(),
        True,
        "browsers without credentials go to the sign-in page; `false`: a `401` Basic challenge",
    )
    session_idle_seconds: int = setting(
        WholeNumber(minimum=60), 28800, "a sign-in session unused this long is over"
    )
    session_max_seconds: int = setting(
        WholeNumber(minimum=60), 604800, "a sign-in session is over this long after sign-in"
    )
    kerberos_keytab: str | None = setting(
        ExistingFile(),
        None,
        "keytab holding the service's key (e.g. for `HTTP/mlflow.corp.example.com`): "
        "Kerberos single sign-on with `Authorization: Negotiate`; needs the `kerberos` extra",
        unset="no Kerberos",
    )
    kerberos_service_principal: str | None = setting(
        Text(),
        None,
        "the service principal whose tickets are accepted",
        unset="the keytab's first `HTTP/` principal",
    )
    audit_retention_days: int = setting(
        WholeNumber(minimum=0),
        30,
        "days the activity table in `database_uri` keeps login decisions and mapping and "
        "token changes (`/ldap-admin/activity`, at most 1,000,000 rows); `0` = no table "
        "(the JSON audit lines stay)",
    )

    @property
    def uses_search(self) -> bool:
        """Search-then-bind (a user search base is set) rather than a DN template."""
        return self.user_dn_template is None


#: Every known key of each section, in the order docs/configuration.md lists them.
SECTIONS: dict[str, tuple[Key, ...]] = {
    "mlflow": keys_of(MlflowSettings) + MLFLOW_IGNORED_KEYS,
    "ldap": keys_of(LdapSettings),
}
