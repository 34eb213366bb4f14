"""The running plugin: every service object, built whole by the app factory.

``app.create_app`` builds one ``Plugin`` per worker and keeps it in
``flask_app.extensions["ldap_auth"]``; request code reaches it through
``current_plugin()``, typed, instead of looking attributes up on an untyped object.
It sits between ``web`` (which reads it) and the services it holds, none of which
imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from mlflow_ldap_auth.activity import Activity
from mlflow_ldap_auth.auth.access_policy import AccessPolicy
from mlflow_ldap_auth.auth.group_sync import GroupSync
from mlflow_ldap_auth.auth.login import LoginService
from mlflow_ldap_auth.auth.provisioning import Provisioner
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.kerberos.negotiate import NegotiateAuthenticator
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.mappings.service import MappingService
from mlflow_ldap_auth.mappings.store import GroupStore
from mlflow_ldap_auth.mappings.who_has_access import WhoHasAccess
from mlflow_ldap_auth.metrics import Metrics
from mlflow_ldap_auth.mlflow_compat.permission_cache import PermissionCache
from mlflow_ldap_auth.mlflow_compat.resource_names import ResourceNames
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.service import SessionService
from mlflow_ldap_auth.tokens.authenticator import TokenAuthenticator
from mlflow_ldap_auth.tokens.service import TokenService

EXTENSION = "ldap_auth"


@dataclass(frozen=True)
class Plugin:
    settings: Settings
    directory: Directory
    #: MLflow's auth store (``SqlAlchemyStore``) the permission engine uses.
    store: Any
    login_service: LoginService
    sync: GroupSync
    provisioner: Provisioner
    mappings: MappingService
    #: The mapped groups' rows (the admin flag, the names mappings hold).
    groups: GroupStore
    #: Who may log in and who is an admin (``admin_groups``, ``allowed_groups``, mappings).
    policy: AccessPolicy
    #: Resources by name and id: labels, the add form's search, patterns typed by name.
    names: ResourceNames
    #: "Who has access" and the mapping previews (docs/admin-page.md).
    access: WhoHasAccess
    #: None when ``permission_cache_ttl_seconds = 0``.
    permission_cache: PermissionCache | None
    tokens: TokenAuthenticator
    #: Sign-in sessions: checked on every request that carries the session cookie.
    sessions: SessionAuthenticator
    #: Listing and ending sessions (the REST API, the token page).
    session_service: SessionService
    token_service: TokenService
    revalidator: Revalidator
    #: Records nothing unless MLflow exposes ``/metrics`` (``--expose-prometheus``).
    metrics: Metrics
    #: The activity table's recorder and reader; None when ``audit_retention_days = 0``.
    activity: Activity | None = None
    #: Kerberos single sign-on (``Authorization: Negotiate``); None without
    #: ``kerberos_keytab``.
    negotiate: NegotiateAuthenticator | None = None

    def flush_caches(self) -> None:
        """Forget every remembered login, group entry and permission answer in this worker."""
        self.login_service.cache.clear()
        self.tokens.forget()
        self.directory.forget_groups()
        if self.permission_cache is not None:
            self.permission_cache.clear()

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def current_plugin(app: Flask | None = None) -> Plugin:
    return (app or current_app).extensions[EXTENSION]
