"""What a request signed in by a Kerberos ticket costs: first, warm, and with a session.

    .venv/bin/python benchmarks/bench_negotiate.py [--requests 200]

A Samba AD DC with its KDC (tests/samba_dc.py: fixed ports 389/636/88, under the tests'
lock file) and one ``mlflow server --app-name ldap-auth`` worker with its keytab. Each
request is ``GET /api/2.0/mlflow/users/current`` on a fresh connection (no keep-alive
stall), timed in this process (wall) and in the server's process group (CPU from /proc):

- ``negotiate, first``: the first ticket of each of several people (the accept, the
  directory look-up with the service account, the admission: a fresh login);
- ``negotiate, warm``: a new token of a person the server has seen (the accept, a cache
  hit); the token is made by python-gssapi from the ticket cache beforehand, outside
  the timing (a client's own cost);
- ``session``: the ``mlflow_ldap_session`` cookie a navigation with a ticket got;
- ``password, warm``: HTTP Basic with a cached password, for comparison.

Run it at nice 19 on a quiet machine; the numbers are this machine's.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import gssapi  # noqa: E402
from bench_servers import cpu_seconds  # noqa: E402

from samba_dc import PASSWORD, SambaDC, ad_settings  # noqa: E402
from servers import ldap_config, start_server  # noqa: E402

PATH = "/api/2.0/mlflow/users/current"
PEOPLE = ("alice", "bob", "carol", "dave", "jdoe", "tia", "tom", "lou")
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")


def token() -> str:
    name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
    context = gssapi.SecurityContext(name=name, usage="initiate", mech=SPNEGO)
    return "Negotiate " + base64.b64encode(context.step()).decode()


def request(port: int, headers: dict[str, str]) -> tuple[int, float, dict]:
    start = time.perf_counter()
    connection = http.client.HTTPConnection("localhost", port, timeout=60)
    connection.request("GET", PATH, headers={**headers, "Connection": "close"})
    answer = connection.getresponse()
    answer.read()
    took = time.perf_counter() - start
    connection.close()
    return answer.status, took, dict(answer.getheaders())


def measure(port: int, pgid: int, header_sets: list[dict[str, str]]) -> dict:
    walls = []
    cpu_before = cpu_seconds(pgid=pgid)
    for headers in header_sets:
        status, took, _ = request(port, headers)
        assert status == 200, status
        walls.append(took)
    cpu = cpu_seconds(pgid=pgid) - cpu_before
    return {
        "n": len(walls),
        "median_ms": statistics.median(walls) * 1000,
        "p90_ms": sorted(walls)[int(len(walls) * 0.9) - 1] * 1000,
        "cpu_ms": cpu / len(walls) * 1000,
    }


def use_tickets(realm, user: str) -> None:
    ccache = realm.kinit(user, PASSWORD)
    os.environ.update(realm.client_env(ccache))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    count = parser.parse_args().requests
    dc = SambaDC(kdc=True).start()
    home = Path(dc.directory) / "bench"
    home.mkdir()
    config = ldap_config(
        home, dc.ldaps_uri, **ad_settings(dc.ca_cert_file), kerberos_keytab=str(dc.keytab)
    )
    try:
        with start_server(home, config=config, env=dc.realm.server_env(home)) as server:
            pgid = server.process.pid
            firsts = []
            for person in PEOPLE:
                use_tickets(dc.realm, person)
                firsts.append({"Authorization": token()})
            results = {"negotiate, first": measure(server.port, pgid, firsts)}
            use_tickets(dc.realm, "alice")
            warm = [{"Authorization": token()} for _ in range(count)]
            results["negotiate, warm"] = measure(server.port, pgid, warm)
            navigation = {"Authorization": token(), "Accept": "text/html"}
            conn = http.client.HTTPConnection("localhost", server.port, timeout=60)
            conn.request("GET", "/", headers=navigation)
            answer = conn.getresponse()
            answer.read()
            cookie = answer.getheader("Set-Cookie").split(";")[0]
            conn.close()
            results["session"] = measure(server.port, pgid, [{"Cookie": cookie}] * count)
            basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
            request(server.port, {"Authorization": basic})
            results["password, warm"] = measure(
                server.port, pgid, [{"Authorization": basic}] * count
            )
            print(f"{'request':<20} {'n':>5} {'median ms':>10} {'p90 ms':>8} {'CPU ms/req':>11}")
            for name, r in results.items():
                print(
                    f"{name:<20} {r['n']:>5} {r['median_ms']:>10.1f} {r['p90_ms']:>8.1f} "
                    f"{r['cpu_ms']:>11.2f}"
                )
    finally:
        dc.cleanup()


if __name__ == "__main__":
    main()
