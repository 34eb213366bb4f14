"""Every service built from the settings, a database engine and the directory: the one
place the object graph is put together.

``build_plugin`` assembles a server worker's ``Plugin``; the command line takes the same
factories for the few services it needs (the access decision, the mapping service and
its preview, the token and session services, the activity recorder), so a service is
built one way wherever it runs. Where the command line differs from a worker it says so
through a named parameter, not a stand-in: the operator who holds the configuration
file is an admin by definition (``admin_flags=None``), no worker's caches live in its
process (``authenticator=None``), and it checks no session (``revalidator=None``).

``tests/unit/test_wiring.py`` keeps the service classes constructed here only.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa

from mlflow_ldap_auth.activity import Activity, start_activity
from mlflow_ldap_auth.auth.access_policy import AccessPolicy, ConfiguredGroups
from mlflow_ldap_auth.auth.accounts import AccountStore
from mlflow_ldap_auth.auth.admission import Admission
from mlflow_ldap_auth.auth.group_sync import GroupSync
from mlflow_ldap_auth.auth.lockout import AttemptStore, LockoutGuard, LockoutPolicy
from mlflow_ldap_auth.auth.login import (
    CACHED_DIRECTORY_METHODS,
    LoginService,
    new_credential_cache,
)
from mlflow_ldap_auth.auth.provisioning import Provisioner
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.kerberos.acceptor import NegotiateAcceptor
from mlflow_ldap_auth.kerberos.negotiate import NegotiateAuthenticator, service_principal
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.mappings.service import MappingService
from mlflow_ldap_auth.mappings.store import GroupStore
from mlflow_ldap_auth.mappings.who_has_access import WhoHasAccess
from mlflow_ldap_auth.metrics import PERMISSION_CACHE_RESULTS, Metrics, metrics_for
from mlflow_ldap_auth.mlflow_compat import server_process
from mlflow_ldap_auth.mlflow_compat.permission_cache import PermissionCache, active_workspace
from mlflow_ldap_auth.mlflow_compat.resource_names import ResourceNames
from mlflow_ldap_auth.plugin import Plugin
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.service import SessionService
from mlflow_ldap_auth.sessions.store import SessionStore
from mlflow_ldap_auth.tokens.authenticator import TokenAuthenticator
from mlflow_ldap_auth.tokens.service import TokenService
from mlflow_ldap_auth.tokens.store import TokenStore


def open_database(settings: Settings, *, migrate: bool = True) -> sa.engine.Engine:
    """The engine on ``[mlflow] database_uri``, its tables migrated unless told not to."""
    engine = tables.create_engine(settings.mlflow.database_uri)
    if migrate:
        tables.migrate(engine)
    return engine


def access_policy(settings: Settings, directory: Directory, groups: GroupStore) -> AccessPolicy:
    """Who may log in and who is an admin: ``admin_groups``/``allowed_groups`` and the
    admin mappings."""
    ldap = settings.ldap
    return AccessPolicy(
        ConfiguredGroups(ldap.admin_group_dns, ldap.allowed_group_dns, directory), groups
    )


def mapping_service(store: Any, groups: GroupStore, directory: Directory) -> MappingService:
    """The group mappings over MLflow's auth ``store`` (configured before this is called)."""
    return MappingService(store, groups, directory)


def who_has_access(
    settings: Settings,
    store: Any,
    mappings: MappingService,
    policy: AccessPolicy,
    *,
    names: ResourceNames | None,
) -> WhoHasAccess:
    """ "Who has access" and the mapping previews. ``names``: the resources' names for
    listings; None where resources are shown by their pattern (the command line)."""
    return WhoHasAccess(
        store,
        mappings,
        mappings.directory,
        names,
        settings.ldap,
        default_permission=settings.mlflow.default_permission,
        policy=policy,
    )


def token_service(
    settings: Settings,
    token_store: TokenStore,
    *,
    admin_flags: Any,
    authenticator: TokenAuthenticator | None,
) -> TokenService:
    """The token operations of the REST API, the token page and the command line.

    ``admin_flags``: MLflow's auth store, whose admin flag says who may see and revoke
    everyone's tokens; None for the operator at the command line, who holds the
    configuration file and so is an admin by definition. ``authenticator``: the worker's,
    whose remembered tokens a revocation forgets at once; None where no worker's caches
    live (the command line: servers re-read tokens within seconds).
    """

    def store_says_admin(username: str) -> bool:
        return admin_flags.get_user(username).is_admin

    return TokenService(
        token_store,
        settings.ldap.token_max_days,
        is_admin=_operator_is_admin if admin_flags is None else store_says_admin,
        forget_cached=authenticator.forget if authenticator is not None else _nothing_cached,
    )


def _operator_is_admin(_username: str) -> bool:
    """The operator at the command line holds the configuration file: an admin."""
    return True


def _nothing_cached() -> None:
    """What a revocation forgets where no tokens are remembered."""


def session_authenticator(
    settings: Settings, engine: sa.engine.Engine, *, revalidator: Revalidator | None
) -> SessionAuthenticator:
    """The session check of a worker, and what ends sessions (each end's ``session_ended``
    line). ``revalidator``: the worker's, which a check asks about the owner; None at the
    command line, which only lists and ends sessions and never checks one."""
    return SessionAuthenticator(
        SessionStore(engine),
        revalidator,
        idle_seconds=settings.ldap.session_idle_seconds,
        max_seconds=settings.ldap.session_max_seconds,
    )


def session_service(sessions: SessionAuthenticator, *, admin_flags: Any) -> SessionService:
    """Listing and ending sessions for the REST API, the token page and the command line.

    ``sessions``: the check whose ``end``/``end_all`` every end goes through.
    ``admin_flags``: as for ``token_service`` (None: the operator, an admin).
    """

    def store_says_admin(username: str) -> bool:
        return admin_flags.get_user(username).is_admin

    return SessionService(
        sessions.store,
        sessions,
        is_admin=_operator_is_admin if admin_flags is None else store_says_admin,
    )


def activity(settings: Settings, engine: sa.engine.Engine) -> Activity | None:
    """Every audit record of this process into the activity table from now on; None when
    ``audit_retention_days = 0``."""
    return start_activity(engine, settings.ldap.audit_retention_days)


def _permission_cache(settings: Settings, auth, metrics: Metrics) -> PermissionCache | None:
    ttl = settings.ldap.permission_cache_ttl_seconds
    if ttl <= 0:
        return None
    return PermissionCache(
        ttl,
        workspace=active_workspace(auth.store),
        count_lookup=metrics.cache_lookups("permission", PERMISSION_CACHE_RESULTS),
    )


def build_plugin(settings: Settings, auth) -> Plugin:
    """Every service object of one worker, built whole (``auth``: MLflow's auth module)."""
    # Otherwise `mlflow server` migrated once before starting workers.
    engine = open_database(settings, migrate=not server_process.admin_bootstrapped())
    ldap = settings.ldap
    metrics = metrics_for(os.environ)
    directory = Directory(ldap, metrics)
    groups = GroupStore(settings.mlflow.database_uri, engine=engine)
    policy = access_policy(settings, directory, groups)
    lockout = LockoutGuard(
        LockoutPolicy(ldap.lockout_threshold, ldap.lockout_window_seconds),
        AttemptStore(engine),
    )
    permission_cache = _permission_cache(settings, auth, metrics)
    # Provisioning and role sync write some rows past MLflow's store: they empty the
    # permission cache themselves, as the store's own writes do (``install``).
    after_write = permission_cache.clear if permission_cache is not None else lambda: None
    break_glass_name = settings.mlflow.admin_username
    sync = GroupSync(
        auth.store, groups, policy, break_glass_name=break_glass_name, after_write=after_write
    )
    accounts = AccountStore(engine)
    cache = new_credential_cache(settings, metrics)
    admission = Admission(
        sync,
        Provisioner(
            auth.store, accounts, break_glass_name=break_glass_name, after_write=after_write
        ),
    )
    revalidator = Revalidator(
        interval_seconds=ldap.revalidate_interval_seconds,
        grace_seconds=ldap.token_outage_grace_seconds,
        lookup=directory.lookup,
        lookup_many=directory.lookup_many,
        checks=UserChecks(engine),
        admission=admission,
        cache=cache,
        is_directory_user=lambda principal: principal.method in CACHED_DIRECTORY_METHODS,
        max_users=max(ldap.cache_max_size, 1000) * 2,
    )
    login_service = LoginService(
        settings,
        directory,
        auth.store,
        sync=sync,
        accounts=accounts,
        lockout=lockout,
        cache=cache,
        revalidator=revalidator,
        admission=admission,
        metrics=metrics,
    )
    token_store = TokenStore(engine)
    tokens = TokenAuthenticator(token_store, revalidator, login_service.names_user, metrics=metrics)
    sessions = session_authenticator(settings, engine, revalidator=revalidator)
    mappings = mapping_service(auth.store, groups, directory)
    names = ResourceNames()
    return Plugin(
        settings=settings,
        directory=directory,
        store=auth.store,
        login_service=login_service,
        sync=sync,
        provisioner=login_service.provisioner,
        mappings=mappings,
        groups=groups,
        policy=policy,
        names=names,
        access=who_has_access(settings, auth.store, mappings, policy, names=names),
        permission_cache=permission_cache,
        tokens=tokens,
        sessions=sessions,
        session_service=session_service(sessions, admin_flags=auth.store),
        token_service=token_service(
            settings, token_store, admin_flags=auth.store, authenticator=tokens
        ),
        revalidator=revalidator,
        metrics=metrics,
        activity=activity(settings, engine),
        negotiate=negotiate_authenticator(settings, login_service),
    )


def negotiate_authenticator(
    settings: Settings, login_service: LoginService
) -> NegotiateAuthenticator | None:
    """Kerberos single sign-on (docs/kerberos.md); None without ``kerberos_keytab``."""
    keytab = settings.ldap.kerberos_keytab
    principal = service_principal(settings)
    if keytab is None or principal is None:
        return None
    return NegotiateAuthenticator(NegotiateAcceptor(keytab, principal), login_service)
