"""After a directory outage, logins work again within 10 s after a server answers.

The bound is docs/operations.md#after-a-directory-outage.

The directory comes back where it was: the same slapd restarted on the same ports with
the same data and certificates (``SlapdInstance.start_again``), as an operator restarts
a directory server. What is checked, besides the 10 s: once a server answers, no probe
of it fails any more (a failure logged for it after that moment is a probe that did not
reach a server that was there), and the service account's pooled connections, all
dropped by the restart, do not turn into 503s.

ldap3 remembers an address it failed to open and offers nothing to connect to for a
few seconds after: a probe then fails without sending a packet. The long-outage test
restarts slapd right after a probe really reached the port and was refused, the moment
that memory is freshest.
"""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client import CollectorRegistry

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.binding import Binder
from mlflow_ldap_auth.ldap.connection import OperationCounter
from mlflow_ldap_auth.ldap.servers import ServerPool
from mlflow_ldap_auth.ldap.service_account import ServiceConnections
from mlflow_ldap_auth.metrics import PrometheusMetrics
from servers import (
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
    audit_lines,
    start_server,
    wait_for_audit,
    wait_until,
)

EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"
#: Logins work again within this many seconds after a server answers
#: (docs/operations.md#after-a-directory-outage).
RECOVERY_SECONDS = 10.0
#: What the server logs when a probe reached the port and nothing listened there.
REFUSED = "Connection refused"


@pytest.fixture
def directory():
    """A slapd of the test's own: the test stops and restarts it."""
    instance = SlapdInstance().start()
    yield instance
    instance.cleanup()


@pytest.fixture
def second_directory():
    """Another slapd with the same seeded people (a second server of one directory)."""
    instance = SlapdInstance().start()
    yield instance
    instance.cleanup()


def login(server, auth) -> int:
    """One request on a new connection; its status code."""
    return requests.get(server.url + EXPERIMENT_0, auth=auth, timeout=30).status_code


def unavailable(server) -> list[dict]:
    """The logins answered 503 so far (audit lines), oldest first."""
    return audit_lines(server, event="login", result="unavailable")


def failures_of(server, uri: str) -> int:
    """How often the server logged that ``uri`` did not answer a bind."""
    return server.log().count(f"LDAP server {uri} unavailable")


def restart_and_await_logins(server, slapd: SlapdInstance, uri: str, auth) -> None:
    """Start ``slapd`` (serving ``uri``) again and poll ``auth``'s login until it works.

    Fails if that takes over ``RECOVERY_SECONDS``, if a login is answered with anything
    but 503 or 200, or if a probe of ``uri`` fails after slapd answers again.
    """
    slapd.start_again()
    back_at = time.monotonic()
    failures = failures_of(server, uri)
    while (status := login(server, auth)) != 200:
        assert status == 503, status
        waited = time.monotonic() - back_at
        assert waited < RECOVERY_SECONDS, f"logins not back {waited:.1f} s after slapd answers"
        time.sleep(0.25)
    assert failures_of(server, uri) == failures, f"a probe of {uri} failed after it answered"


def refused_attempts(server) -> int:
    return server.log().count(REFUSED)


def test_a_short_outage_of_the_only_server(directory, tmp_path):
    with start_server(tmp_path, directory, workers=1) as server:
        assert login(server, ("alice", "alice-password")) == 200
        directory.stop()
        before = len(unavailable(server))
        assert login(server, ("bob", "bob-password")) == 503
        # It asked, and was refused (not the circuit breaker's answer).
        [refused] = wait_for_audit(server, before, event="login", result="unavailable")
        assert refused["reason"] == "directory_unavailable"
        restart_and_await_logins(server, directory, directory.ldap_uri, ("bob", "bob-password"))
        assert login(server, ("carol", "carol-password")) == 200


def test_a_long_outage_of_an_ldaps_server(directory, tmp_path):
    """Several probes fail before slapd returns; then it answers on the same port."""
    with start_server(
        tmp_path, directory.ldaps_uri, workers=1, tls_ca_cert_file=directory.ca_cert_file
    ) as server:
        assert login(server, ("alice", "alice-password")) == 200
        directory.stop()
        bob = ("bob", "bob-password")

        def probes_failed() -> int:
            return sum(line["reason"] != "circuit_open" for line in unavailable(server))

        # Logins keep coming (each may be the probe) until three probes failed.
        while probes_failed() < 3:
            assert login(server, bob) == 503
            time.sleep(0.25)
        # Then slapd returns right after a probe really reached the port.
        refused = refused_attempts(server)
        while refused_attempts(server) == refused:
            assert login(server, bob) == 503
            time.sleep(0.25)
        restart_and_await_logins(server, directory, directory.ldaps_uri, bob)


def test_every_server_down_then_the_second_returns(directory, second_directory, tmp_path):
    uris = f"{directory.ldap_uri} {second_directory.ldap_uri}"
    with start_server(tmp_path, uris, workers=1) as server:
        assert login(server, ("alice", "alice-password")) == 200
        directory.stop()
        second_directory.stop()
        before = len(unavailable(server))
        assert login(server, ("bob", "bob-password")) == 503
        [refused] = wait_for_audit(server, before, event="login", result="unavailable")
        assert refused["reason"] == "directory_unavailable"
        # Both were asked and refused; only the second comes back.
        assert failures_of(server, directory.ldap_uri) == 1
        assert failures_of(server, second_directory.ldap_uri) == 1
        restart_and_await_logins(
            server, second_directory, second_directory.ldap_uri, ("bob", "bob-password")
        )
        assert login(server, ("carol", "carol-password")) == 200


# -- the service account's pooled connections --------------------------------------


def service_connections(slapd: SlapdInstance, uri: str, registry: CollectorRegistry):
    settings = LdapSettings(
        server_uris=(uri,),
        bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD,
        tls_ca_cert_file=slapd.ca_cert_file,
        connect_timeout=2,
        receive_timeout=2,
    )
    pool = ServerPool(settings, PrometheusMetrics(registry))
    service = ServiceConnections(Binder(pool, OperationCounter()), SERVICE_DN, SERVICE_PASSWORD)
    return pool, service


def find_bob(connection) -> list[dict]:
    return connection.search(PEOPLE_DN, "(uid=bob)", "SUBTREE", ["uid"])


def three_idle_connections(service: ServiceConnections) -> None:
    """Three connections in use at once, so three wait idle after (as after a busy
    minute of several threads)."""
    found = service.run(
        lambda a: service.run(lambda b: service.run(lambda c: [find_bob(x) for x in (a, b, c)]))
    )
    assert all(len(entries) == 1 for entries in found)


@pytest.mark.parametrize("scheme", ["ldap", "ldaps"])
def test_pooled_connections_dropped_by_a_restart_are_replaced_at_once(directory, scheme):
    uri = directory.ldap_uri if scheme == "ldap" else directory.ldaps_uri
    pool, service = service_connections(directory, uri, CollectorRegistry())
    try:
        three_idle_connections(service)
        directory.stop()
        directory.start_again()
        # Nobody noticed the restart: the server is up, every idle connection is gone.
        assert len(service.run(find_bob)) == 1
        assert pool.servers[0].down_since is None
    finally:
        service.close()


def test_pooled_connections_mark_an_outage_and_recover(directory):
    registry = CollectorRegistry()
    pool, service = service_connections(directory, directory.ldap_uri, registry)

    def up() -> float | None:
        return registry.get_sample_value(
            "mlflow_ldap_auth_directory_up", {"server": f"127.0.0.1:{directory.port}"}
        )

    try:
        three_idle_connections(service)
        assert up() == 1
        directory.stop()
        with pytest.raises(DirectoryUnavailable):
            service.run(find_bob)
        # The outage was seen as one: the server is down, the gauge says so.
        assert pool.servers[0].down_since is not None
        assert up() == 0
        directory.start_again()
        back_at = time.monotonic()

        def works() -> bool:
            try:
                return len(service.run(find_bob)) == 1
            except DirectoryUnavailable:
                return False

        wait_until(works, "the service account did not reconnect", timeout=RECOVERY_SECONDS)
        assert time.monotonic() - back_at < RECOVERY_SECONDS
        assert up() == 1
    finally:
        service.close()
