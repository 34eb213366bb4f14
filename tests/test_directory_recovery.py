"""SPEC §8: after a directory outage, logins work again within 10 s after a server answers.

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

from servers import (
    SlapdInstance,
    audit_lines,
    start_server,
    wait_for_audit,
)

EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"
#: SPEC §8: logins work again within this many seconds after a server answers.
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
        assert login(server, ("bob", "bob-password")) == 503  # it asked, and was refused
        assert unavailable(server)[-1]["reason"] == "directory_unavailable"
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
        wait_for_audit(server, before, event="login", reason="directory_unavailable")
        # Both were asked and refused; only the second comes back.
        assert failures_of(server, directory.ldap_uri) == 1
        assert failures_of(server, second_directory.ldap_uri) == 1
        restart_and_await_logins(
            server, second_directory, second_directory.ldap_uri, ("bob", "bob-password")
        )
        assert login(server, ("carol", "carol-password")) == 200
