"""A down server is looked at afresh by the next check (real loopback sockets, no LDAP).

``ServerPool.check`` only opens a TCP connection (no bind), so a plain listening socket
stands in for a server that answers again, on the port that refused a moment before.
"""

import socket

import pytest
from prometheus_client import CollectorRegistry

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.ldap.servers import ServerPool
from mlflow_ldap_auth.metrics import NULL_METRICS, Metrics, PrometheusMetrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> socket.socket:
    """A server that accepts connections on ``port`` again (the kernel accepts them)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    return sock


def pool_for(*uris: str, metrics: Metrics = NULL_METRICS) -> ServerPool:
    return ServerPool(LdapSettings(server_uris=uris, connect_timeout=2, receive_timeout=2), metrics)


@pytest.mark.parametrize("scheme", ["ldap", "LDAP"])
def test_a_server_that_refused_is_reached_as_soon_as_it_listens_again(scheme):
    port = free_port()
    pool = pool_for(f"{scheme}://127.0.0.1:{port}")
    [state] = pool.servers
    assert "refused" in pool.check(state).lower()
    assert state.down_since is not None
    with listening(port):
        # Well within a second of the refusal: ldap3 alone would still skip the address.
        assert pool.check(state) is None
        assert state.down_since is None
        # and the requests after the check use it too.
        assert pool.to_try() == [state]
        pool.open(state).unbind()


def test_every_check_of_a_long_outage_really_asks_the_server():
    port = free_port()
    pool = pool_for(f"ldap://127.0.0.1:{port}")
    [state] = pool.servers
    errors = [pool.check(state) for _ in range(4)]
    assert all("refused" in error.lower() for error in errors), errors
    with listening(port):
        assert pool.check(state) is None


def test_the_up_gauge_follows_the_checks():
    registry = CollectorRegistry()
    port = free_port()
    pool = pool_for(f"ldap://127.0.0.1:{port}", metrics=PrometheusMetrics(registry))
    [state] = pool.servers

    def up():
        return registry.get_sample_value(
            "mlflow_ldap_auth_directory_up", {"server": f"127.0.0.1:{port}"}
        )

    pool.check(state)
    assert up() == 0
    with listening(port):
        pool.check(state)
        assert up() == 1
