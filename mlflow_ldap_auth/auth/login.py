"""Login decisions: who may log in, as whom, with which admin flag.

``LoginService.login`` is the whole decision for one (login name, password) pair:

1. login names with invisible format characters (Unicode category Cf, e.g. U+200B) are
   refused: they only ever serve to make one name look like another;
2. the break-glass local admin (``[mlflow] admin_username``, compared after NFKC and
   case folding, so no look-alike spelling escapes the rule) is checked against MLflow's
   own user store, never the directory, so it works while the directory is down and no
   directory entry can claim it. MLflow's public legacy default password is refused, as
   MLflow itself refuses it. A verified password is remembered together with the stored
   hash it matched, which is read on every request: a rotation through any worker or
   server ends the old password at once;
3. everyone else goes through the credential cache to a directory bind, guarded against
   password spraying (``lockout``);
4. after a fresh bind: the access decision (``AccessPolicy``: ``allowed_groups``, admin
   flag), provisioning or adoption of the MLflow user, and the managed-role sync
   (``admission``), and the check is recorded for revalidation (``revalidation``):
   ``admit_directory_user``, the one admission path, which a Kerberos ticket's user
   takes too (``ticket_login``).

Every decision is written once to the audit log and counted once in
``mlflow_ldap_auth_logins_total`` (``_decided``); a request answered from the
credential cache is not a new decision (it is a cache hit). Each ``login`` line says
which kind of credential it decided on (``method``): ``password`` for everything this
service decides (directory and break-glass alike; ``Principal.method`` tells those two
apart), ``session_sign_in`` for the sign-in page's (the caller says so), ``negotiate``
for a Kerberos ticket's (``ticket_login``), and None for a header the web layer could
not read as any kind.
"""

from __future__ import annotations

import logging
import unicodedata

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.accounts import AccountStore
from mlflow_ldap_auth.auth.admission import Admission
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.group_sync import GroupSync
from mlflow_ldap_auth.auth.lockout import THROTTLED, LockoutGuard
from mlflow_ldap_auth.auth.names import name_key
from mlflow_ldap_auth.auth.provisioning import Principal, Provisioner
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, InvalidCredentials, NotAllowed
from mlflow_ldap_auth.ldap.directory import Directory, DirectoryUser
from mlflow_ldap_auth.metrics import CREDENTIAL_CACHE_RESULTS, NULL_METRICS, Metrics

_logger = logging.getLogger(__name__)

#: The admin password that old MLflow releases shipped in basic_auth.ini
#: (GHSA-gq3w-7jj3-x7gr); MLflow refuses admin logins with it, and so do we.
LEGACY_DEFAULT_ADMIN_PASSWORD = "password1234"
#: The ``method`` of the ``login`` lines of password logins (``web.credentials``).
PASSWORD_METHOD = "password"
#: The ``method`` of the ``login`` lines of the sign-in page (``web.signin_pages``).
SESSION_SIGN_IN_METHOD = "session_sign_in"
#: ``Principal.method`` of the break-glass admin.
LOCAL_ADMIN_METHOD = "local_admin"
#: ``Principal.method`` of a request signed in by its session cookie (``sessions``).
SESSION_METHOD = "session"
#: The ``method`` of the ``login`` lines of Kerberos tickets (``Authorization: Negotiate``),
#: and ``Principal.method`` of a request signed in by one.
NEGOTIATE_METHOD = "negotiate"
#: The methods of a directory user's own requests: what may create access tokens
#: (a token may not create tokens; the break-glass admin has none).
DIRECTORY_USER_METHODS = frozenset({PASSWORD_METHOD, SESSION_METHOD, NEGOTIATE_METHOD})
#: ``Principal.method`` of the directory users the credential cache remembers (what
#: revalidation follows): a password's, and a Kerberos ticket's (``ticket_login``).
CACHED_DIRECTORY_METHODS = frozenset({PASSWORD_METHOD, NEGOTIATE_METHOD})
_LOCAL_KEY_PREFIX = "\0local\0"


def has_format_characters(name: str) -> bool:
    # No ASCII character is a format character (the first is U+00AD): most names are
    # answered by one call, on every request.
    return not name.isascii() and any(unicodedata.category(char) == "Cf" for char in name)


def _remember(error: AuthError) -> bool:
    """Which refusals the negative cache keeps: not outages, not throttled attempts."""
    return not isinstance(error, DirectoryUnavailable) and error.reason != THROTTLED


def new_credential_cache(
    settings: Settings, metrics: Metrics = NULL_METRICS
) -> CredentialCache[Principal]:
    ldap = settings.ldap
    return CredentialCache(
        ttl_seconds=ldap.cache_ttl_seconds,
        max_size=ldap.cache_max_size,
        negative_ttl_seconds=ldap.negative_cache_ttl_seconds,
        remember_refusal=_remember,
        count_lookup=metrics.cache_lookups("credential", CREDENTIAL_CACHE_RESULTS),
    )


class LoginService:
    def __init__(
        self,
        settings: Settings,
        directory: Directory,
        store,
        sync: GroupSync,
        accounts: AccountStore,
        lockout: LockoutGuard | None = None,
        cache: CredentialCache[Principal] | None = None,
        revalidator: Revalidator | None = None,
        admission: Admission | None = None,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.directory = directory
        self.store = store
        self.sync = sync
        self.accounts = accounts
        self.lockout = lockout
        self.admission = admission or Admission(
            sync, Provisioner(store, accounts, break_glass_name=settings.mlflow.admin_username)
        )
        self.provisioner = self.admission.provisioner
        self.cache: CredentialCache[Principal] = cache or new_credential_cache(settings)
        self.revalidator = revalidator
        self._local_admin = settings.mlflow.admin_username
        self._local_admin_key = name_key(self._local_admin)

    def names_user(self, login: str, username: str) -> bool:
        """Whether the typed ``login`` names the directory user ``username``, without a bind.

        Other case and spaces (``name_key``), and the Active Directory forms a login
        accepts (``DOMAIN\\user``, ``user@realm``: ``Directory.login_name``), so Basic
        ``CORP\\alice:<token>`` is alice's. A form of another domain names nobody.
        """
        if name_key(login) == name_key(username):
            return True
        try:
            name = self.directory.login_name(login)
        except AuthError:
            return False
        return name_key(name.name) == name_key(username)

    def is_local_admin_name(self, login: str) -> bool:
        return name_key(login) == self._local_admin_key

    def login(
        self,
        login: str,
        password: str,
        source: str | None = None,
        method: str = PASSWORD_METHOD,
    ) -> Principal:
        """Who ``login`` / ``password`` log in as; ``method``: what the decision's ``login``
        line says the person used (``password``, or the sign-in page's ``session_sign_in``)."""
        if not password:
            # An empty password would be an anonymous bind (RFC 4513 5.1.2).
            raise InvalidCredentials("empty password", reason=reasons.EMPTY_PASSWORD)
        if has_format_characters(login):
            raise InvalidCredentials(
                "invisible format character in the username", reason=reasons.MALFORMED_USERNAME
            )
        if self.is_local_admin_name(login):
            return self._login_local_admin(password, source, method)
        return self.cache.get_or_check(
            login, password, lambda lg, pw: self._check_directory(lg, pw, source, method)
        )

    def cache_status(self) -> dict:
        """The remembered logins' counts and bounds (the status page)."""
        return self.cache.status()

    def peek(self, login: str, password: str) -> Principal | None:
        """Who ``login`` / ``password`` log in as, if that is already known in memory (no I/O)."""
        if not password or has_format_characters(login) or self.is_local_admin_name(login):
            return None
        return self.cache.peek(login, password)

    # -- the break-glass admin --------------------------------------------
    def _login_local_admin(self, password: str, source: str | None, method: str) -> Principal:
        if password == LEGACY_DEFAULT_ADMIN_PASSWORD:
            _logger.warning(
                "Refused a break-glass login of %r with MLflow's public legacy default "
                "password; set admin_password / MLFLOW_AUTH_ADMIN_PASSWORD and restart to "
                "rotate it",
                self._local_admin,
            )
            raise InvalidCredentials(
                "legacy default password", reason=reasons.LEGACY_DEFAULT_PASSWORD
            )
        stored = self.accounts.stored_password_hash(self._local_admin)
        if stored is None:
            raise InvalidCredentials(
                "no break-glass admin in the user store", reason=reasons.NO_USER
            )
        return self.cache.get_or_check(
            _LOCAL_KEY_PREFIX + self._local_admin,
            password,
            lambda _login, pw: self._check_local_admin(pw, source, method),
            version=stored,
        )

    def _check_local_admin(self, password: str, source: str | None, method: str) -> Principal:
        if not self.store.authenticate_user(self._local_admin, password):
            raise InvalidCredentials("local admin password mismatch", reason=reasons.BAD_PASSWORD)
        self._decided(self._local_admin, source, "success", reasons.LOCAL_ADMIN, method=method)
        return Principal(username=self._local_admin, is_admin=True, method=LOCAL_ADMIN_METHOD)

    # -- directory users --------------------------------------------------
    def _check_directory(
        self, login: str, password: str, source: str | None, method: str
    ) -> Principal:
        user = self.directory.authenticate(login, password, guard=self.lockout)
        return self.admit_directory_user(user, source, method, reasons.DIRECTORY_BIND, login=login)

    def admit_directory_user(
        self,
        user: DirectoryUser,
        source: str | None,
        method: str,
        reason: str,
        principal_method: str = PASSWORD_METHOD,
        **extra,
    ) -> Principal:
        """The one admission of a directory user the directory vouched for (a password
        bind, or a Kerberos ticket's user read with the service account): the break-glass
        name refused, the access decision, provisioning and role sync (``Admission``),
        the check recorded for revalidation, one ``login`` line and metric."""
        if self.is_local_admin_name(user.username):
            raise NotAllowed(
                f"directory user {user.dn} has the name of the local admin",
                reason=reasons.LOCAL_ADMIN_NAME,
            )
        is_admin = self.admission.admit(user, source).is_admin
        if self.revalidator is not None:
            self.revalidator.record_login(user)
        principal = Principal(
            username=user.username, is_admin=is_admin, dn=user.dn, method=principal_method
        )
        self._decided(
            user.username,
            source,
            "success",
            reason,
            method=method,
            **extra,
            dn=user.dn,
            admin=is_admin,
            groups=len(user.group_dns),
        )
        return principal

    def audit_refusal(
        self,
        login: str | None,
        source: str | None,
        error: AuthError,
        method: str | None = PASSWORD_METHOD,
    ) -> None:
        """Audit a refused login; ``method`` None: no kind of credential could be read."""
        if error.reason == reasons.NO_CREDENTIALS:
            return  # a browser's first request, not a login attempt
        result = "unavailable" if isinstance(error, DirectoryUnavailable) else "refused"
        self._decided(login, source, result, error.reason, method=method)
        if isinstance(error, DirectoryUnavailable):
            _logger.error("Login of %r failed: %s", login, error)
        else:
            _logger.info("Login of %r refused (%s): %s", login, error.reason, error)

    def _decided(
        self,
        user: str | None,
        source: str | None,
        result: str,
        reason: str,
        method: str | None = PASSWORD_METHOD,
        **extra,
    ) -> None:
        """Write one login decision to the audit log and count it in the metrics."""
        self.metrics.login(result, reason)
        audit(
            reasons.LOGIN,
            user=user,
            source=source,
            result=result,
            reason=reason,
            method=method,
            **extra,
        )
