"""The LDAP directory, reached with ldap3: user binds, user and group searches.

Two failure families are kept apart everywhere, because the client must see them
differently:

* the directory *answered* no (bad password, unknown user, locked account):
  ``InvalidCredentials`` -> 401;
* the directory could not answer (refused, timed out, TLS failure, misconfiguration):
  ``DirectoryUnavailable`` -> 503, after trying every configured server in turn.

Every user-supplied value is escaped at the place it is used: ``dn.filter_value`` for
search filters (RFC 4515), ``dn.rdn_value`` for DN templates (RFC 4514). DNs are
compared structurally (``dn.dn_key``: RDN sequence, each RDN a set of type=value).

Servers and the circuit breaker: servers are tried in configuration order; a server
that failed (refused, timed out, TLS failure) is *down* and is not tried by requests
until a probe sees it answer again. While another server is up, the probe runs in the
background, so no request waits on a down server; while every server is down, one
request at a time (every ``PROBE_INTERVAL_SECONDS``) is the probe and every other
request fails at once (``DirectoryUnavailable``, reason ``circuit_open``) instead of
waiting for network timeouts.

Naming: ``user_dn`` is a DN, ``group_dns`` a frozenset of DNs as the server spelled them.
"""

from __future__ import annotations

import logging
import queue
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.protocol.sasl.sasl import validate_simple_password
from ldap3.utils.conv import escape_bytes

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.dn import (
    DnKey,
    InvalidDn,
    canonical_dn,
    dn_key_or_raw,
    filter_value,
    is_under,
    rdn_value,
)
from mlflow_ldap_auth.ldap.login_names import DomainNames, LoginName, has_domain_part, resolve

_logger = logging.getLogger(__name__)

#: A down server is probed again this long after its last failure (one probe at a time).
PROBE_INTERVAL_SECONDS = 5.0
#: Bound on group-of-group recursion (OpenLDAP); cycles are cut by a visited set.
MAX_NESTING_DEPTH = 8
#: Longest login name accepted; longer ones are refused before any LDAP traffic.
MAX_USERNAME_LENGTH = 256
#: Microsoft's LDAP_MATCHING_RULE_IN_CHAIN: the server resolves nesting itself.
IN_CHAIN_RULE = "1.2.840.113556.1.4.1941"

RESULT_INVALID_CREDENTIALS = 49
RESULT_STRONGER_AUTH_REQUIRED = 8
RESULT_CONFIDENTIALITY_REQUIRED = 13
RESULT_BUSY = 51
RESULT_UNAVAILABLE = 52

# Active Directory puts a sub-code in the diagnostic message of a failed bind.
AD_BIND_REASONS = {
    "525": "user_not_found",
    "52e": "bad_password",
    "530": "logon_hours",
    "531": "workstation_restricted",
    "532": "password_expired",
    "533": "account_disabled",
    "568": "too_many_sids",
    "701": "account_expired",
    "773": "must_change_password",
    "775": "account_locked",
}
_AD_DATA_CODE = re.compile(r"\bdata ([0-9a-f]{3,4})\b", re.IGNORECASE)

#: Object classes that make an entry a group (SPEC §2).
GROUP_OBJECT_CLASSES = frozenset({"groupofnames", "groupofuniquenames", "posixgroup", "group"})

_SOCKET_ERRORS = (
    ldap_exc.LDAPCommunicationError,  # open / send / receive / closed by server
    ldap_exc.LDAPStartTLSError,
    ldap_exc.LDAPSSLConfigurationError,
    ldap_exc.LDAPSessionTerminatedByServerError,
    ldap_exc.LDAPResponseTimeoutError,
    ssl.SSLError,
    OSError,
)


@dataclass(frozen=True)
class DirectoryUser:
    """What the directory says about one person."""

    dn: str
    username: str
    direct_group_dns: frozenset[str] = frozenset()
    group_dns: frozenset[str] = frozenset()
    #: For every nested group, the group through which it was reached (child DN).
    group_parents: tuple[tuple[str, str], ...] = ()
    #: Stable identifier of each group (entryUUID / objectGUID), by group DN.
    group_uuids: tuple[tuple[str, str], ...] = ()

    @property
    def uuid_by_group_dn(self) -> dict[str, str]:
        return dict(self.group_uuids)

    @property
    def groups(self) -> tuple[tuple[DnKey, str | None], ...]:
        """(structural DN key, stable id or None) of every group, for access decisions."""
        uuids = self.uuid_by_group_dn
        return tuple((dn_key_or_raw(dn), uuids.get(dn)) for dn in self.group_dns)


@dataclass(frozen=True)
class DirectoryGroup:
    dn: str
    uuid: str | None
    name: str | None
    #: Has a group object class and lies under group_search_base (SPEC §2).
    is_group: bool = True


@dataclass
class ServerState:
    uri: str
    server: ldap3.Server
    down_since: float | None = None
    last_failure: float | None = None
    #: When the probe in progress started (None: no probe); a probe that never reported
    #: back (a thread that died) stops counting after ``Directory._probe_timeout``.
    probing_since: float | None = None
    last_error: str | None = None
    last_latency_ms: float | None = None

    @property
    def host_port(self) -> str:
        return f"{self.server.host}:{self.server.port}"


@dataclass
class OperationCounter:
    """LDAP operations sent, by kind (a spy for tests and the status page)."""

    binds: int = 0
    searches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str) -> None:
        with self._lock:
            setattr(self, kind, getattr(self, kind) + 1)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"binds": self.binds, "searches": self.searches}


UUID_ATTRIBUTES = ["entryUUID", "objectGUID"]
GROUP_ATTRIBUTES = ["objectClass", *UUID_ATTRIBUTES]


def group_uuid(entry: dict) -> str | None:
    """The entry's stable id: OpenLDAP ``entryUUID`` or AD ``objectGUID`` (as a GUID string)."""
    attributes = entry.get("attributes") or {}
    value = _first(attributes.get("entryUUID"))
    if value:
        return str(value).lower()
    raw = (entry.get("raw_attributes") or {}).get("objectGUID")
    if raw:
        data = raw[0] if isinstance(raw, list) else raw
        if isinstance(data, bytes) and len(data) == 16:
            return str(uuid.UUID(bytes_le=data))
    return None


def ad_bind_reason(message: str | None) -> str | None:
    """AD's reason for a failed bind (``data 52e`` -> ``bad_password``), if any."""
    match = _AD_DATA_CODE.search(message or "")
    if not match:
        return None
    return AD_BIND_REASONS.get(match.group(1).lower(), f"ad_code_{match.group(1).lower()}")


class Directory:
    """Authenticates users and reads their groups; thread-safe."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.operations = OperationCounter()
        self._login_domains = frozenset(domain.casefold() for domain in settings.login_domains)
        self._domain_names: DomainNames | None = None
        tls = self._tls(settings)
        self._servers = [
            ServerState(uri, self._server(uri, tls, settings)) for uri in settings.server_uris
        ]
        self._state_lock = threading.Lock()
        self._idle_service_connections: queue.LifoQueue[_Pooled] = queue.LifoQueue()
        self._probe_timeout = settings.connect_timeout + 2 * settings.receive_timeout + 5
        # DNs as the operator typed them ("OU=Groups, DC=corp") respelled strictly: ldap3
        # refuses spaces around separators in a search base or bind DN.
        self._user_base = _wire_dn(settings.user_search_base)
        self._group_base = _wire_dn(settings.group_search_base)
        self._bind_dn = _wire_dn(settings.bind_dn)
        self._group_base_key = dn_key_or_raw(self._group_base) if self._group_base else None

    # -- set-up ----------------------------------------------------------
    @staticmethod
    def _tls(settings: LdapSettings) -> ldap3.Tls:
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED if settings.tls_verify else ssl.CERT_NONE,
            ca_certs_file=settings.tls_ca_cert_file,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )

    @staticmethod
    def _server(uri: str, tls: ldap3.Tls, settings: LdapSettings) -> ldap3.Server:
        parts = urlsplit(uri)
        return ldap3.Server(
            parts.hostname,
            port=parts.port or (636 if parts.scheme == "ldaps" else 389),
            use_ssl=parts.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=settings.connect_timeout,
        )

    # -- server pool and circuit breaker --------------------------------
    def _servers_to_try(self) -> list[ServerState]:
        """The servers this request may use, in configuration order.

        Up servers only, while there are any (down ones due for a check are probed in
        the background). With every server down, this request becomes the probe when
        one is due and nobody else is probing; otherwise it fails at once.
        """
        now = time.monotonic()
        with self._state_lock:
            up = [s for s in self._servers if s.down_since is None]
            due = [
                s
                for s in self._servers
                if s.down_since is not None
                and (s.probing_since is None or now - s.probing_since > self._probe_timeout)
                and now - (s.last_failure or 0.0) >= PROBE_INTERVAL_SECONDS
            ]
            if not up:
                # One probe at a time, of the server that has waited longest (each gets
                # its turn); none while another request is probing.
                probing = any(
                    s.probing_since is not None and now - s.probing_since <= self._probe_timeout
                    for s in self._servers
                )
                due = [] if probing else sorted(due, key=lambda s: s.last_failure or 0.0)[:1]
            for state in due:
                state.probing_since = now
        if up:
            for state in due:
                threading.Thread(
                    target=self._probe, args=(state,), name="ldap-probe", daemon=True
                ).start()
            return up
        if due:
            return due
        raise DirectoryUnavailable(
            "every LDAP server failed within the last "
            f"{PROBE_INTERVAL_SECONDS:g} s; not waiting for them (next check soon): "
            + "; ".join(f"{s.uri}: {s.last_error}" for s in self._servers),
            reason="circuit_open",
        )

    def _mark(self, state: ServerState, error: str | None, started: float) -> None:
        now = time.monotonic()
        with self._state_lock:
            state.last_latency_ms = (now - started) * 1000
            state.probing_since = None
            if error is None:
                if state.down_since is not None:
                    _logger.info("LDAP server %s answers again", state.uri)
                state.down_since = None
                state.last_error = None
            else:
                if state.down_since is None:
                    state.down_since = now
                state.last_failure = now
                state.last_error = error

    def _open(self, state: ServerState, **options) -> ldap3.Connection:
        """An open (not bound) connection to ``state``; raises one of ``_SOCKET_ERRORS``."""
        connection = ldap3.Connection(
            state.server,
            client_strategy=ldap3.SYNC,
            receive_timeout=self.settings.receive_timeout,
            raise_exceptions=False,
            auto_referrals=False,
            **options,
        )
        try:
            connection.open()
            if self.settings.start_tls and not state.server.ssl:
                connection.start_tls()
        except BaseException:
            _close(connection)
            raise
        return connection

    def _probe(self, state: ServerState) -> None:
        """Background check of a down server: does it accept a connection (and TLS)?"""
        started = time.monotonic()
        try:
            _close(self._open(state))
        except _SOCKET_ERRORS as exc:
            self._mark(state, _describe_socket_error(exc), started)
        except Exception as exc:  # noqa: BLE001 - a probe must never kill its thread noisily
            self._mark(state, f"{exc.__class__.__name__}: {exc}", started)
        else:
            self._mark(state, None, started)

    # -- connections -----------------------------------------------------
    def _connect(self, bind_dn: str | None, password: str | None) -> _Pooled:
        """An open, bound connection to the first server that answers.

        Raises ``InvalidCredentials`` when a server refuses the credentials (no failover:
        every server holds the same directory) and ``DirectoryUnavailable`` when none
        answers.
        """
        failures = []
        for state in self._servers_to_try():
            started = time.monotonic()
            options = {"read_only": True}
            if bind_dn:
                options.update(user=bind_dn, password=password, authentication=ldap3.SIMPLE)
            try:
                connection = self._open(state, **options)
            except _SOCKET_ERRORS as exc:
                error = _describe_socket_error(exc)
                self._mark(state, error, started)
                failures.append(f"{state.uri}: {error}")
                _logger.warning("LDAP server %s unavailable: %s", state.uri, error)
                continue
            if bind_dn is None:
                self._mark(state, None, started)
                return _Pooled(state, connection)
            try:
                self.operations.add("binds")
                bound = connection.bind()
            except _SOCKET_ERRORS as exc:
                error = _describe_socket_error(exc)
                self._mark(state, error, started)
                failures.append(f"{state.uri}: {error}")
                _logger.warning("LDAP server %s unavailable: %s", state.uri, error)
                _close(connection)
                continue
            if bound:
                self._mark(state, None, started)
                return _Pooled(state, connection)
            result = connection.result or {}
            code = result.get("result")
            message = result.get("message") or ""
            _close(connection)
            if code == RESULT_INVALID_CREDENTIALS:
                self._mark(state, None, started)
                raise InvalidCredentials(
                    f"bind refused for {bind_dn}: {message or 'invalid credentials'}",
                    reason=ad_bind_reason(message) or "bad_password",
                )
            error = f"bind answered {code} {result.get('description')}: {message}"
            if code in (RESULT_STRONGER_AUTH_REQUIRED, RESULT_CONFIDENTIALITY_REQUIRED):
                error += " (the server wants TLS: use ldaps:// or start_tls = true)"
            if code in (RESULT_BUSY, RESULT_UNAVAILABLE) or code is None:
                self._mark(state, error, started)
                failures.append(f"{state.uri}: {error}")
                continue
            self._mark(state, None, started)
            raise DirectoryUnavailable(f"{state.uri}: {error}", reason="bind_error")
        raise DirectoryUnavailable("no LDAP server answered: " + "; ".join(failures))

    @contextmanager
    def _service_connection(self) -> Iterator[_Pooled]:
        """A pooled connection bound as the service account (or anonymous)."""
        try:
            pooled = self._idle_service_connections.get_nowait()
        except queue.Empty:
            try:
                pooled = self._connect(self._bind_dn, self.settings.bind_password)
            except InvalidCredentials as exc:
                # The service account's own password is wrong: a configuration fault,
                # never the user's 401.
                raise DirectoryUnavailable(
                    f"service account bind refused ({exc}); check bind_dn / bind_password",
                    reason="service_bind_refused",
                ) from None
        try:
            yield pooled
        except BaseException:
            _close(pooled.connection)
            raise
        else:
            self._idle_service_connections.put(pooled)

    def _search(
        self, pooled: _Pooled, base: str, search_filter: str, scope, attributes
    ) -> list[dict]:
        self.operations.add("searches")
        started = time.monotonic()
        try:
            ok = pooled.connection.search(
                base, search_filter, search_scope=scope, attributes=attributes, size_limit=0
            )
        except _SOCKET_ERRORS as exc:
            error = _describe_socket_error(exc)
            if isinstance(exc, ldap_exc.LDAPResponseTimeoutError):
                # A server that stops answering is down, not just this connection.
                self._mark(pooled.state, error, started)
            raise _StaleConnection(error) from None
        result = pooled.connection.result or {}
        if not ok and result.get("result") not in (0, 32):  # 32: noSuchObject
            raise DirectoryUnavailable(
                f"search under {base} failed: {result.get('result')} "
                f"{result.get('description')}: {result.get('message')}",
                reason="search_error",
            )
        return [
            entry
            for entry in pooled.connection.response or []
            if entry.get("type") == "searchResEntry"
        ]

    def _with_service(self, work):
        """Run ``work(connection)`` on a service connection, retrying once if it went stale."""
        for attempt in (1, 2):
            try:
                with self._service_connection() as pooled:
                    return work(pooled)
            except _StaleConnection as exc:
                if attempt == 2:
                    raise DirectoryUnavailable(f"LDAP connection lost: {exc}") from None
                _logger.info("LDAP service connection went stale (%s); reconnecting", exc)
        raise AssertionError("unreachable")

    # -- people ----------------------------------------------------------
    def authenticate(
        self, login: str, password: str, guard: BindGuard | None = None
    ) -> DirectoryUser:
        """Verify ``password`` for ``login``; return the user with groups.

        ``guard`` (the password-spraying guard) is asked for a slot right before the
        password bind, once the account is known; a refused bind keeps its slot.
        """
        _check_login(login, password)
        name = self.login_name(login)
        login = name.name
        settings = self.settings
        if settings.uses_search:
            entry = self._with_service(lambda c: self._find_user(c, name))
            with _guarded(guard, entry.username.casefold()) as attempt:
                try:
                    _close(self._connect(entry.dn, password).connection)
                except InvalidCredentials:
                    attempt.refused = True
                    raise
            return self._with_service(lambda c: self._with_groups(c, entry))
        user_dn = settings.user_dn_template.format(username=rdn_value(login))
        with _guarded(guard, login.casefold()) as attempt:
            try:
                user_connection = self._connect(user_dn, password)
            except InvalidCredentials:
                attempt.refused = True
                raise
        try:
            return self._with_groups(user_connection, self._read_user(user_connection, user_dn))
        except _StaleConnection as exc:
            raise DirectoryUnavailable(f"LDAP connection lost: {exc}") from None
        finally:
            _close(user_connection.connection)

    def login_name(self, login: str) -> LoginName:
        """What to look up for a typed login (``login_names``: DOMAIN\\user, UPNs)."""
        names = self.domain_names() if has_domain_part(login) else DomainNames()
        return resolve(login, names, self._login_domains)

    def domain_names(self) -> DomainNames:
        """Active Directory's own NetBIOS name, DNS realm and UPN suffixes; read once.

        From the rootDSE's naming contexts, the domain's ``crossRef`` under
        ``CN=Partitions`` (``nETBIOSName``, ``dnsRoot``) and that container's
        ``uPNSuffixes``. Empty for a directory that has none of these (OpenLDAP).
        """
        if self._domain_names is None:
            self._domain_names = self._with_service(self._read_domain_names)
            if self._domain_names.is_active_directory:
                _logger.info(
                    "Active Directory names for DOMAIN\\user and UPN logins: %s",
                    sorted(self._domain_names.netbios | self._domain_names.realms),
                )
        return self._domain_names

    def _read_domain_names(self, connection: _Pooled) -> DomainNames:
        attributes = self._root_dse(
            connection, ["defaultNamingContext", "configurationNamingContext"]
        )
        domain_nc = _first(attributes.get("defaultNamingContext"))
        config_nc = _first(attributes.get("configurationNamingContext"))
        if not domain_nc or not config_nc:
            return DomainNames()
        partitions = f"CN=Partitions,{config_nc}"
        # RFC 4515: the naming context is a value in the filter, escaped.
        refs = self._search(
            connection,
            partitions,
            f"(&(objectClass=crossRef)(nCName={filter_value(str(domain_nc))}))",
            ldap3.LEVEL,
            ["nETBIOSName", "dnsRoot"],
        )
        container = self._search(
            connection, partitions, "(objectClass=*)", ldap3.BASE, ["uPNSuffixes"]
        )
        netbios, realms = set(), set()
        for ref in refs:
            ref_attributes = ref.get("attributes") or {}
            netbios.update(str(v).casefold() for v in _values(ref_attributes.get("nETBIOSName")))
            realms.update(str(v).casefold() for v in _values(ref_attributes.get("dnsRoot")))
        for entry in container:
            suffixes = (entry.get("attributes") or {}).get("uPNSuffixes")
            realms.update(str(v).casefold() for v in _values(suffixes))
        return DomainNames(frozenset(netbios), frozenset(realms))

    def lookup(self, login: str) -> DirectoryUser | None:
        """The user and groups without a password (service account); None if unknown."""
        if not login or len(login) > MAX_USERNAME_LENGTH:
            return None
        try:
            name = self.login_name(login)
        except InvalidCredentials:
            return None

        def work(connection):
            try:
                if self.settings.uses_search:
                    entry = self._find_user(connection, name)
                else:
                    user_dn = self.settings.user_dn_template.format(username=rdn_value(name.name))
                    entry = self._read_user(connection, user_dn)
            except InvalidCredentials:
                return None
            return self._with_groups(connection, entry)

        return self._with_service(work)

    def lockout_policy(self) -> tuple[int | None, int | None]:
        """Active Directory's own (lockoutThreshold, observation window in s); else Nones.

        Read from the domain object that the rootDSE's ``defaultNamingContext`` names
        (OpenLDAP has no such attribute: no policy to stay below).
        """

        def work(connection):
            root = self._root_dse(connection, ["defaultNamingContext"])
            naming = _first(root.get("defaultNamingContext"))
            if not naming:
                return None, None
            domain = self._search(
                connection,
                str(naming),
                "(objectClass=*)",
                ldap3.BASE,
                ["lockoutThreshold", "lockOutObservationWindow"],
            )
            attributes = (domain[0].get("attributes") or {}) if domain else {}
            threshold = _first(attributes.get("lockoutThreshold"))
            window = _first(attributes.get("lockOutObservationWindow"))
            return (
                int(threshold) if threshold not in (None, "") else None,
                _ad_interval_seconds(window),
            )

        return self._with_service(work)

    def _root_dse(self, connection: _Pooled, attributes: list[str]) -> dict:
        """Attributes of the rootDSE; empty if the server will not show them."""
        try:
            entries = self._search(connection, "", "(objectClass=*)", ldap3.BASE, attributes)
        except DirectoryUnavailable as exc:
            if exc.reason != "search_error":
                raise
            return {}
        return (entries[0].get("attributes") or {}) if entries else {}

    def _user_attributes(self) -> list[str]:
        return [self.settings.username_attribute, "memberOf"]

    def _find_user(self, connection: _Pooled, name: LoginName) -> _UserEntry:
        login = name.name
        # RFC 4515: the login is escaped before it enters the filter.
        search_filter = self.settings.user_search_filter.format(username=filter_value(login))
        if name.upn:
            upn = f"(&(objectClass=user)(userPrincipalName={filter_value(name.upn)}))"
            search_filter = f"(|{search_filter}{upn})"
        entries = self._search(
            connection,
            self._user_base,
            search_filter,
            ldap3.SUBTREE,
            self._user_attributes(),
        )
        if not entries:
            raise InvalidCredentials(f"no entry matches {search_filter}", reason="unknown_user")
        if len(entries) > 1:
            raise InvalidCredentials(
                f"{len(entries)} entries match {search_filter}", reason="ambiguous_user"
            )
        return self._user_entry(entries[0], login)

    def _read_user(self, connection: _Pooled, user_dn: str) -> _UserEntry:
        entries = self._search(
            connection, user_dn, "(objectClass=*)", ldap3.BASE, self._user_attributes()
        )
        if not entries:
            raise InvalidCredentials(f"no entry at {user_dn}", reason="unknown_user")
        return self._user_entry(entries[0], user_dn)

    def _user_entry(self, entry: dict, login: str) -> _UserEntry:
        attributes = entry.get("attributes") or {}
        value = _first(attributes.get(self.settings.username_attribute))
        if not value:
            raise InvalidCredentials(
                f"{entry['dn']} has no {self.settings.username_attribute} attribute "
                f"(login {login!r})",
                reason="no_username_attribute",
            )
        memberof = frozenset(dn_key_or_raw(dn) for dn in attributes.get("memberOf") or [])
        return _UserEntry(entry["dn"], str(value), memberof)

    # -- groups ----------------------------------------------------------
    def _with_groups(self, connection: _Pooled, user: _UserEntry) -> DirectoryUser:
        """The user's groups: direct ones, then (``nested_groups``) their parents.

        Nesting is resolved level by level, one search per level (groups having any
        group of the previous level as a member), cycle-safe and at most
        ``MAX_NESTING_DEPTH`` levels. When the directory maintains ``memberOf`` (the
        user entry has it), each level's entries already name their parents, so the
        last, empty level is not searched: a user in no nested group costs one group
        search. With the AD in-chain rule in the filter the server does all of it.
        """
        settings = self.settings
        if self._group_base is None:
            return DirectoryUser(dn=user.dn, username=user.username)
        template = settings.group_search_filter
        base_key = self._group_base_key

        def level_filter(member_dns: list[str]) -> str:
            parts = [
                template.format(user_dn=filter_value(dn), username=filter_value(user.username))
                for dn in member_dns
            ]
            return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"

        def search(member_dns: list[str], attributes: list[str]) -> list[dict]:
            return self._search(
                connection,
                self._group_base,
                level_filter(member_dns),
                ldap3.SUBTREE,
                attributes,
            )

        def unseen_parents(entries: list[dict]) -> bool:
            for entry in entries:
                for parent in (entry.get("attributes") or {}).get("memberOf") or []:
                    key = dn_key_or_raw(parent)
                    if is_under(key, base_key) and key not in all_groups:
                        return True
            return False

        if settings.nested_groups and settings.nested_groups_method == "token_groups":
            return self._token_groups_user(connection, user)
        in_chain = IN_CHAIN_RULE in template
        nest = settings.nested_groups and "{user_dn}" in template and not in_chain
        wants_memberof = nest or in_chain
        entries = search(
            [user.dn], [*UUID_ATTRIBUTES, "memberOf"] if wants_memberof else UUID_ATTRIBUTES
        )
        uuids = {entry["dn"]: group_uuid(entry) for entry in entries}
        direct = [entry["dn"] for entry in entries]
        if in_chain:
            return self._transitive_user(user, entries, uuids)
        all_groups: dict[DnKey, str] = {dn_key_or_raw(dn): dn for dn in direct}
        parents: list[tuple[str, str]] = []
        frontier, depth = direct, 1
        while nest and frontier and depth < MAX_NESTING_DEPTH:
            if user.memberof and not unseen_parents(entries):
                break
            depth += 1
            wanted = {dn_key_or_raw(dn): dn for dn in frontier}
            entries = search(frontier, ["member", "uniqueMember", "memberOf", *UUID_ATTRIBUTES])
            found_next = []
            for entry in entries:
                attributes = entry.get("attributes") or {}
                members = []
                for name, values in attributes.items():
                    # AD sends at most 1,500 values as "member;range=0-1499". Only the
                    # nesting *path* shown to admins uses these lists (membership itself
                    # comes from the search filter), so a partial list is enough.
                    if name in ("member", "uniqueMember") or name.startswith("member;range="):
                        members += list(values or [])
                for key in (dn_key_or_raw(member) for member in members):
                    if key in wanted:
                        parents.append((entry["dn"], wanted[key]))
                group_key = dn_key_or_raw(entry["dn"])
                if group_key not in all_groups:
                    all_groups[group_key] = entry["dn"]
                    uuids[entry["dn"]] = group_uuid(entry)
                    found_next.append(entry["dn"])
            new_keys = {dn_key_or_raw(dn) for dn in found_next}
            entries = [entry for entry in entries if dn_key_or_raw(entry["dn"]) in new_keys]
            frontier = found_next
        return DirectoryUser(
            dn=user.dn,
            username=user.username,
            direct_group_dns=frozenset(direct),
            group_dns=frozenset(all_groups.values()),
            group_uuids=tuple((dn, uid) for dn, uid in uuids.items() if uid),
            group_parents=tuple(parents),
        )

    # -- group look-ups (mappings) ----------------------------------------
    def read_group(self, group_dn: str) -> DirectoryGroup | None:
        """The entry at ``group_dn`` (current DN, stable id, name, whether it is a group).

        None if there is no entry there; an entry that is not a group comes back with
        ``is_group`` false, so callers can say so instead of "not found".
        """
        attributes = [self.settings.group_name_attribute, *GROUP_ATTRIBUTES]
        try:
            base = canonical_dn(group_dn)
        except InvalidDn:
            return None  # callers validate DNs; a string that is none names no entry

        def work(connection):
            entries = self._search(connection, base, "(objectClass=*)", ldap3.BASE, attributes)
            return self._group_of(entries[0]) if entries else None

        return self._with_service(work)

    def find_group_by_uuid(self, group_uuid: str) -> DirectoryGroup | None:
        """Where a group is now, by its stable id (follows renames and moves)."""
        base = self._group_base
        if base is None:
            return None
        attributes = [self.settings.group_name_attribute, *GROUP_ATTRIBUTES]
        try:
            guid_bytes = uuid.UUID(group_uuid).bytes_le
        except ValueError:
            return None
        # entryUUID (OpenLDAP) or objectGUID (AD, matched on its raw bytes).
        guid_filter = "".join(f"\\{byte:02x}" for byte in guid_bytes)
        search_filter = f"(|(entryUUID={filter_value(group_uuid)})(objectGUID={guid_filter}))"

        def work(connection):
            entries = self._search(connection, base, search_filter, ldap3.SUBTREE, attributes)
            return self._group_of(entries[0]) if entries else None

        return self._with_service(work)

    def search_groups(self, text: str, limit: int = 25) -> list[DirectoryGroup]:
        """Groups whose name contains ``text`` (escaped), for choosing one in a form."""
        base = self._group_base
        if base is None:
            return []
        name = self.settings.group_name_attribute
        classes = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))"
        search_filter = f"(&{classes}({name}=*{filter_value(text)}*))"

        def work(connection):
            entries = self._search(
                connection, base, search_filter, ldap3.SUBTREE, [name, *GROUP_ATTRIBUTES]
            )
            return [self._group_of(entry) for entry in entries[:limit]]

        return self._with_service(work)

    def _token_groups_user(self, connection: _Pooled, user: _UserEntry) -> DirectoryUser:
        """AD: the user's ``tokenGroups`` (every security group, nested ones included,
        computed by the DC) then one search for those SIDs. Measured against Samba 4:
        ~50 x faster than the in-chain matching rule (benchmarks/bench_ad_groups.py).
        """
        entries = self._search(connection, user.dn, "(objectClass=*)", ldap3.BASE, ["tokenGroups"])
        raw = (entries[0].get("raw_attributes") or {}).get("tokenGroups") if entries else None
        sids = [sid for sid in raw or [] if isinstance(sid, bytes)]
        if not sids:
            return DirectoryUser(dn=user.dn, username=user.username)
        # RFC 4515: binary values escaped byte by byte.
        wanted = "".join(f"(objectSid={escape_bytes(sid)})" for sid in sids)
        groups = self._search(
            connection,
            self._group_base,
            f"(&(objectClass=group)(|{wanted}))",
            ldap3.SUBTREE,
            [*UUID_ATTRIBUTES, "memberOf"],
        )
        uuids = {entry["dn"]: group_uuid(entry) for entry in groups}
        return self._transitive_user(user, groups, uuids)

    @staticmethod
    def _transitive_user(user: _UserEntry, entries: list[dict], uuids: dict) -> DirectoryUser:
        """Every group came back at once (AD in-chain rule or tokenGroups).

        The user's memberOf tells direct from nested; the groups' memberOf gives the
        path through nested groups.
        """
        by_key = {dn_key_or_raw(entry["dn"]): entry["dn"] for entry in entries}
        parents = []
        for entry in entries:
            for parent in (entry.get("attributes") or {}).get("memberOf") or []:
                if dn_key_or_raw(parent) in by_key:
                    parents.append((by_key[dn_key_or_raw(parent)], entry["dn"]))
        direct = [dn for key, dn in by_key.items() if key in user.memberof] if user.memberof else []
        return DirectoryUser(
            dn=user.dn,
            username=user.username,
            direct_group_dns=frozenset(direct or by_key.values()),
            group_dns=frozenset(by_key.values()),
            group_parents=tuple(parents),
            group_uuids=tuple((dn, uid) for dn, uid in uuids.items() if uid),
        )

    def _group_of(self, entry: dict) -> DirectoryGroup:
        attributes = entry.get("attributes") or {}
        classes = {str(value).casefold() for value in attributes.get("objectClass") or []}
        under_base = self._group_base_key is not None and is_under(
            dn_key_or_raw(entry["dn"]), self._group_base_key
        )
        return DirectoryGroup(
            dn=entry["dn"],
            uuid=group_uuid(entry),
            name=_first(attributes.get(self.settings.group_name_attribute)),
            is_group=bool(classes & GROUP_OBJECT_CLASSES) and under_base,
        )

    # -- health ----------------------------------------------------------
    def server_status(self) -> list[dict]:
        """Try every server (anonymous open, no bind); report reachability and latency."""
        report = []
        for state in self._servers:
            started = time.monotonic()
            try:
                _close(self._open(state))
                error = None
            except _SOCKET_ERRORS as exc:
                error = _describe_socket_error(exc)
            self._mark(state, error, started)
            report.append(
                {
                    "uri": state.uri,
                    "reachable": error is None,
                    "latency_ms": round(state.last_latency_ms or 0.0, 2),
                    "error": error,
                }
            )
        return report

    def check_service_bind(self) -> None:
        """Bind as the service account (raises DirectoryUnavailable/InvalidCredentials)."""
        _close(self._connect(self._bind_dn, self.settings.bind_password).connection)

    def close(self) -> None:
        """Close the pooled service connections (new ones are opened on demand)."""
        while True:
            try:
                _close(self._idle_service_connections.get_nowait().connection)
            except queue.Empty:
                return


class _Pooled(NamedTuple):
    """A connection and the server it is connected to (to mark it down on a timeout)."""

    state: ServerState
    connection: ldap3.Connection


class BindGuard(Protocol):
    """The password-spraying guard, as the directory sees it (see ``lockout``)."""

    def attempt(self, account: str) -> AbstractContextManager: ...


class _Unguarded:
    refused = False


@contextmanager
def _guarded(guard: BindGuard | None, account: str) -> Iterator:
    if guard is None:
        yield _Unguarded()
    else:
        with guard.attempt(account) as attempt:
            yield attempt


class _UserEntry(NamedTuple):
    dn: str
    username: str
    #: The entry's memberOf values (DN keys); non-empty means the directory
    #: maintains memberOf (OpenLDAP overlay, Active Directory).
    memberof: frozenset[DnKey]


class _StaleConnection(Exception):
    """A pooled connection failed mid-operation (server restarted, idle timeout)."""


def _check_login(login: str, password: str) -> None:
    # ldap3 turns an empty user or password into an anonymous bind that *succeeds*
    # (RFC 4513 5.1.2), so both are refused before any LDAP traffic.
    if not login or not login.strip():
        raise InvalidCredentials("empty username", reason="empty_username")
    if not password:
        raise InvalidCredentials("empty password", reason="empty_password")
    if len(login) > MAX_USERNAME_LENGTH:
        raise InvalidCredentials("username too long", reason="username_too_long")
    try:
        # What ldap3 does to a simple-bind password (RFC 4013 SASLprep): a password it
        # cannot send (control characters, unassigned code points) is refused here,
        # before any LDAP traffic, as the client's 401 and not an exception.
        validate_simple_password(password)
    except ldap_exc.LDAPException:
        raise InvalidCredentials(
            "the password contains characters LDAP cannot carry", reason="unusable_password"
        ) from None


def _wire_dn(dn: str | None) -> str | None:
    """A configured DN in the strict spelling ldap3 sends; AD bind names pass unchanged."""
    if dn is None:
        return None
    try:
        return canonical_dn(dn)
    except InvalidDn:
        return dn  # user@realm or DOMAIN\\user (bind_dn), checked by the configuration


def _values(value) -> list:
    """Every value of an attribute, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _first(value):
    """The first of a multi-valued attribute's values (or the value itself)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _ad_interval_seconds(value) -> int | None:
    """AD time intervals are negative counts of 100 ns (``-6000000000`` = 10 minutes)."""
    try:
        return abs(int(value)) // 10_000_000 if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _describe_socket_error(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
        return f"TLS certificate verification failed ({text}); check tls_ca_cert_file"
    if "hostname" in text.lower() and "match" in text.lower():
        return f"TLS host name mismatch ({text})"
    return f"{exc.__class__.__name__}: {text}"


def _close(connection: ldap3.Connection) -> None:
    try:
        if connection.bound:
            connection.unbind()
        elif not connection.closed:
            connection.strategy.close()
    except Exception:  # noqa: BLE001, S110 - closing a broken socket must never raise
        pass
    # ldap3 leaves the socket of a failed open() behind; close it ourselves.
    sock = getattr(connection, "socket", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
