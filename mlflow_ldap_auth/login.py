"""Login decisions: who may log in, as whom, with which admin flag.

``LoginService.login`` is the whole decision for one (login name, password) pair:

1. the break-glass local admin (``[mlflow] admin_username``) is checked against MLflow's
   own user store, never the directory, so it works while the directory is down and no
   directory entry can claim it;
2. everyone else goes through the credential cache to a directory bind;
3. after a fresh bind: ``allowed_groups`` is enforced, the admin flag is derived from
   ``admin_groups``, and the user is provisioned in MLflow's user store.
"""

from __future__ import annotations

import logging

from mlflow_ldap_auth.audit import audit
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.credential_cache import CredentialCache
from mlflow_ldap_auth.directory import Directory, DirectoryUser
from mlflow_ldap_auth.dn import normalize_dn
from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, InvalidCredentials, NotAllowed
from mlflow_ldap_auth.provisioning import Principal, provision_user

_logger = logging.getLogger(__name__)


def is_admin_member(user: DirectoryUser, admin_group_dns: tuple[str, ...]) -> bool:
    wanted = {normalize_dn(dn) for dn in admin_group_dns}
    return bool(wanted & user.normalized_group_dns)


def is_allowed(user: DirectoryUser, allowed_group_dns: tuple[str, ...]) -> bool:
    if not allowed_group_dns:
        return True
    wanted = {normalize_dn(dn) for dn in allowed_group_dns}
    return bool(wanted & user.normalized_group_dns)


class LoginService:
    def __init__(self, settings: Settings, directory: Directory, store, sync=None) -> None:
        self.settings = settings
        self.directory = directory
        self.store = store
        ldap = settings.ldap
        self.cache: CredentialCache[Principal] = CredentialCache(
            ttl_seconds=ldap.cache_ttl_seconds,
            max_size=ldap.cache_max_size,
            negative_ttl_seconds=ldap.negative_cache_ttl_seconds,
            remember_refusal=lambda error: not isinstance(error, DirectoryUnavailable),
        )
        self._local_admin = settings.mlflow.admin_username
        #: Set by the app factory when the permission cache is on.
        self.permission_cache = None
        #: ``group_sync.GroupSync``: admin flag and managed roles from group mappings.
        self.sync = sync

    def flush_caches(self) -> None:
        """Forget every remembered login and permission answer in this worker."""
        self.cache.clear()
        if self.permission_cache is not None:
            self.permission_cache.clear()

    def is_local_admin_name(self, login: str) -> bool:
        return login.casefold() == self._local_admin.casefold()

    def login(self, login: str, password: str, source: str | None = None) -> Principal:
        if not password:
            # An empty password would be an anonymous bind (RFC 4513 5.1.2).
            raise InvalidCredentials("empty password", reason="empty_password")
        if self.is_local_admin_name(login):
            return self.cache.get_or_check(
                "\0local\0" + login, password, lambda _l, pw: self._check_local_admin(pw, source)
            )
        return self.cache.get_or_check(
            login, password, lambda lg, pw: self._check_directory(lg, pw, source)
        )

    def _check_local_admin(self, password: str, source: str | None) -> Principal:
        if not self.store.authenticate_user(self._local_admin, password):
            raise InvalidCredentials("local admin password mismatch", reason="bad_password")
        audit(
            "login", user=self._local_admin, source=source, result="success", reason="local_admin"
        )
        return Principal(username=self._local_admin, is_admin=True)

    def _check_directory(self, login: str, password: str, source: str | None) -> Principal:
        ldap = self.settings.ldap
        user = self.directory.authenticate(login, password)
        if self.is_local_admin_name(user.username):
            raise NotAllowed(
                f"directory user {user.dn} has the name of the local admin",
                reason="local_admin_name",
            )
        if not is_allowed(user, ldap.allowed_group_dns):
            raise NotAllowed(
                f"{user.dn} is in none of allowed_groups", reason="not_in_allowed_groups"
            )
        # Without admin_groups (or admin mappings) the admin flag is left to MLflow's API.
        if self.sync is not None:
            plan = self.sync.plan(user)
            is_admin = plan.is_admin
        else:
            is_admin = is_admin_member(user, ldap.admin_group_dns) if ldap.admin_group_dns else None
        provision_user(self.store, user.username, is_admin)
        if self.sync is not None:
            self.sync.apply(plan, user.username)
        if is_admin is None:
            is_admin = self.store.get_user(user.username).is_admin
        principal = Principal(username=user.username, is_admin=is_admin, dn=user.dn)
        audit(
            "login",
            user=user.username,
            source=source,
            result="success",
            reason="directory_bind",
            login=login,
            dn=user.dn,
            admin=is_admin,
            groups=len(user.group_dns),
        )
        return principal

    def audit_refusal(self, login: str | None, source: str | None, error: AuthError) -> None:
        if error.reason == "no_credentials":
            return  # a browser's first request, not a login attempt
        result = "unavailable" if isinstance(error, DirectoryUnavailable) else "refused"
        audit("login", user=login, source=source, result=result, reason=error.reason)
        if isinstance(error, DirectoryUnavailable):
            _logger.error("Login of %r failed: %s", login, error)
        else:
            _logger.info("Login of %r refused (%s): %s", login, error.reason, error)
