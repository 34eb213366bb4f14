"""The configured LDAP servers: their order, down-marking, the circuit breaker and probes.

Servers are tried in configuration order; a server that failed (refused, timed out,
TLS failure) is *down* and is not tried by requests until a probe sees it answer
again. While another server is up, the probe runs in the background, so no request
waits on a down server; while every server is down, one request at a time (every
``PROBE_INTERVAL_SECONDS``) is the probe and every other request fails at once
(``DirectoryUnavailable``, reason ``circuit_open``) instead of waiting for network
timeouts.

Failover is done here, not by ldap3's ``ServerPool``, so ldap3's process-wide
configuration (``ldap3.utils.config.set_config_parameter``, such as the pool's
``POOLING_LOOP_TIMEOUT``) is never changed: everything the plugin needs (timeouts,
TLS, no referral chasing) is passed to each ``ldap3.Server`` and ``ldap3.Connection``.

A down server is looked at afresh. An ``ldap3.Server`` remembers each address it
failed to open as unavailable and offers no address to connect to until that memory
ages out (``RESET_AVAILABILITY_TIMEOUT``: more than 5 s after the failed attempt), and
resolves its name again only every ``ADDRESS_INFO_REFRESH_TIME`` (300 s). A probe
``PROBE_INTERVAL_SECONDS`` after a failure then failed with "invalid server address"
without sending a packet: every other probe of an outage asked nobody, and a directory
that came back waited for the next round. So every connection to a server marked down
(the probe, a status check) is opened on a new ``ldap3.Server`` (no memory, its name
resolved again), which the server's state keeps once it opened. A server that is up
keeps its ``ldap3.Server``: that memory is what skips a dead address of a name with
several (a domain name resolving to every domain controller).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.metrics import NULL_METRICS, Metrics

_logger = logging.getLogger(__name__)

#: A down server is probed again this long after its last failure (one probe at a time).
PROBE_INTERVAL_SECONDS = 5.0

#: What a server that cannot answer raises: the next server is tried.
SOCKET_ERRORS = (
    ldap_exc.LDAPCommunicationError,  # open / send / receive / closed by server
    ldap_exc.LDAPStartTLSError,
    ldap_exc.LDAPSSLConfigurationError,
    ldap_exc.LDAPSessionTerminatedByServerError,
    ldap_exc.LDAPResponseTimeoutError,
    ssl.SSLError,
    OSError,
)


@dataclass
class ServerState:
    uri: str
    server: ldap3.Server
    down_since: float | None = None
    last_failure: float | None = None
    #: When the probe in progress started (None: no probe); a probe that never reported
    #: back (a thread that died) stops counting after ``ServerPool.probe_timeout``.
    probing_since: float | None = None
    last_error: str | None = None
    last_latency_ms: float | None = None

    @property
    def host_port(self) -> str:
        return f"{self.server.host}:{self.server.port}"


class ServerPool:
    """Which server a request may use, and opening (not binding) connections to it."""

    def __init__(self, settings: LdapSettings, metrics: Metrics = NULL_METRICS) -> None:
        self._metrics = metrics
        self._receive_timeout = settings.receive_timeout
        self._start_tls = settings.start_tls
        self._tls = _tls(settings)
        self._connect_timeout = settings.connect_timeout
        self.servers = [ServerState(uri, self._new_server(uri)) for uri in settings.server_uris]
        self.probe_timeout = settings.connect_timeout + 2 * settings.receive_timeout + 5
        self._lock = threading.Lock()

    def to_try(self) -> list[ServerState]:
        """The servers this request may use, in configuration order.

        Up servers only, while there are any (down ones due for a check are probed in
        the background). With every server down, this request becomes the probe when
        one is due and nobody else is probing; otherwise it fails at once.
        """
        now = time.monotonic()
        with self._lock:
            up = [s for s in self.servers if s.down_since is None]
            due = [s for s in self.servers if s.down_since is not None and self._due(s, now)]
            if not up:
                # One probe at a time, of the server that has waited longest (each gets
                # its turn); none while another request is probing.
                probing = any(self._probing(s, now) for s in self.servers)
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
            + "; ".join(f"{s.uri}: {s.last_error}" for s in self.servers),
            reason=reasons.CIRCUIT_OPEN,
        )

    def _probing(self, state: ServerState, now: float) -> bool:
        return state.probing_since is not None and now - state.probing_since <= self.probe_timeout

    def _due(self, state: ServerState, now: float) -> bool:
        """Down long enough for a check, and no live probe of it under way."""
        return (
            not self._probing(state, now)
            and now - (state.last_failure or 0.0) >= PROBE_INTERVAL_SECONDS
        )

    def mark(self, state: ServerState, error: str | None, started: float) -> None:
        """Record the outcome of talking to ``state``: up (``error`` None) or down."""
        now = time.monotonic()
        with self._lock:
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
        self._metrics.directory_up(state.host_port, error is None)

    def open(self, state: ServerState, **options: Any) -> ldap3.Connection:
        """An open (not bound) connection to ``state``; raises one of ``SOCKET_ERRORS``.

        A server marked down is opened on a new ``ldap3.Server`` (see the module's
        docstring), kept for the requests after once it opened.
        """
        server = state.server
        if state.down_since is not None:
            server = self._new_server(state.uri)
        connection = ldap3.Connection(
            server,
            client_strategy=ldap3.SYNC,
            receive_timeout=self._receive_timeout,
            raise_exceptions=False,
            auto_referrals=False,
            **options,
        )
        try:
            connection.open()
            if self._start_tls and not server.ssl:
                connection.start_tls()
        except BaseException:
            close_connection(connection)
            raise
        if server is not state.server:
            with self._lock:
                state.server = server
        return connection

    def _new_server(self, uri: str) -> ldap3.Server:
        return _server(uri, self._tls, self._connect_timeout)

    def check(self, state: ServerState) -> str | None:
        """Open and close a connection to ``state`` (no bind); mark it; the error if any."""
        started = time.monotonic()
        try:
            close_connection(self.open(state))
            error = None
        except SOCKET_ERRORS as exc:
            error = describe_socket_error(exc)
        self.mark(state, error, started)
        return error

    def _probe(self, state: ServerState) -> None:
        """Background check of a down server: does it accept a connection (and TLS)?"""
        started = time.monotonic()
        try:
            self.check(state)
        except Exception as exc:  # noqa: BLE001 - a probe must never kill its thread noisily
            self.mark(state, f"{exc.__class__.__name__}: {exc}", started)

    def status(self) -> list[dict]:
        """Try every server (anonymous open, no bind); report reachability and latency."""
        report = []
        for state in self.servers:
            error = self.check(state)
            report.append(
                {
                    "uri": state.uri,
                    "reachable": error is None,
                    "latency_ms": round(state.last_latency_ms or 0.0, 2),
                    "error": error,
                }
            )
        return report


def describe_socket_error(exc: BaseException) -> str:
    """The error, with what to check for the usual TLS faults."""
    text = str(exc) or exc.__class__.__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
        return f"TLS certificate verification failed ({text}); check tls_ca_cert_file"
    if "hostname" in text.lower() and "match" in text.lower():
        return f"TLS host name mismatch ({text})"
    return f"{exc.__class__.__name__}: {text}"


def close_connection(connection: ldap3.Connection) -> None:
    """Unbind or close; never raises (closing a broken socket is no error)."""
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


def _tls(settings: LdapSettings) -> ldap3.Tls:
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED if settings.tls_verify else ssl.CERT_NONE,
        ca_certs_file=settings.tls_ca_cert_file,
        version=ssl.PROTOCOL_TLS_CLIENT,
    )


def _server(uri: str, tls: ldap3.Tls, connect_timeout: int) -> ldap3.Server:
    parts = urlsplit(uri)
    return ldap3.Server(
        parts.hostname,
        port=parts.port or (636 if parts.scheme == "ldaps" else 389),
        use_ssl=parts.scheme == "ldaps",
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=connect_timeout,
    )
