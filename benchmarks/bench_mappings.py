"""Cost of group mappings: login with many groups, steady state with many mappings.

    .venv/bin/python benchmarks/bench_mappings.py [--groups 200] [--mappings 500]

One slapd, one `mlflow server --app-name ldap-auth` (1 worker). Users: ``many`` in
``--groups`` groups, ``few`` in 2. Reports

* fresh-login time (cache flushed before each login; median of ``--logins``) for both
  users with ``--mappings`` mappings defined, and the ratio many/few; the first login
  of ``many`` (which assigns all managed roles) separately;
* warm-request throughput and server CPU of ``few`` with 0 and with ``--mappings``
  mappings (ratio).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_auth import KeepAliveClient, basic  # noqa: E402
from bench_servers import cpu_seconds  # noqa: E402

from servers import GROUPS_DN, PEOPLE_DN, MlflowServer, SlapdInstance, ldap_config  # noqa: E402

API = "/api/2.0/mlflow/ldap-auth"
ADMIN = ("carol", "carol-password")


def seed(slapd: SlapdInstance, groups: int) -> None:
    people = [
        f"dn: uid={uid},{PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n"
        f"sn: {uid}\nuserPassword: {uid}-password\n"
        for uid in ("many", "few")
    ]
    bulk = [
        f"dn: cn=bulk-{i:03d},{GROUPS_DN}\nobjectClass: groupOfNames\ncn: bulk-{i:03d}\n"
        f"member: uid=many,{PEOPLE_DN}\n" + (f"member: uid=few,{PEOPLE_DN}\n" if i < 2 else "")
        for i in range(groups)
    ]
    slapd.ldif("ldapadd", "\n".join(people + bulk))


def create_mappings(server: MlflowServer, groups: int, count: int) -> None:
    types = [("experiment", "READ"), ("registered_model", "READ"), ("prompt", "READ")]
    made = 0
    index = 0
    while made < count:
        group = f"cn=bulk-{index % groups:03d},{GROUPS_DN}"
        resource_type, permission = types[(index // groups) % len(types)]
        pattern = "*" if index < groups * len(types) else str(1000 + index)
        body = {
            "group": group,
            "resource_type": resource_type,
            "resource_pattern": pattern,
            "permission": permission,
        }
        response = requests.post(
            server.url + API + "/group-mappings", json=body, auth=ADMIN, timeout=60
        )
        if response.status_code == 200:
            made += 1
        index += 1


def flush(server: MlflowServer) -> None:
    requests.post(server.url + API + "/cache/flush", auth=ADMIN, timeout=60).raise_for_status()


def login_seconds(server: MlflowServer, user: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        flush(server)
        started = time.perf_counter()
        response = requests.get(
            server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
            auth=(user, f"{user}-password"),
            timeout=60,
        )
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def steady(server: MlflowServer, user: str, seconds: float) -> tuple[float, float]:
    clients = [KeepAliveClient(server.port, basic(user, f"{user}-password")) for _ in range(4)]
    for client in clients:
        status = client.get()
        if status != 200:  # a steady state of refusals would measure the wrong thing
            raise RuntimeError(f"warm request as {user} answered {status}")
    count = 0
    cpu_before = cpu_seconds(pgid=server.process.pid)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for client in clients:
            if client.get() != 200:
                raise RuntimeError(f"a warm request as {user} was refused")
            count += 1
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pgid=server.process.pid) - cpu_before
    for client in clients:
        client.close()
    return count / elapsed, cpu / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--mappings", type=int, default=500)
    parser.add_argument("--logins", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()

    with SlapdInstance() as slapd:
        seed(slapd, args.groups)
        config = ldap_config(Path(tempfile.mkdtemp()), slapd.ldap_uri)
        with MlflowServer(config, workers=1) as server:
            requests.get(
                server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
                auth=ADMIN,
                timeout=60,
            ).raise_for_status()
            rps_0, cpu_0 = steady(server, "few", args.seconds)
            create_mappings(server, args.groups, args.mappings)
            first_many = login_seconds(server, "many", 1)[0]
            many, few = [], []
            for _ in range(args.logins):  # interleaved: drift hits both alike
                many += login_seconds(server, "many", 1)
                few += login_seconds(server, "few", 1)
            rps_n, cpu_n = steady(server, "few", args.seconds)
            listed = requests.get(server.url + API + "/group-mappings", auth=ADMIN, timeout=60)
            defined = len(listed.json()["group_mappings"])

    many_ms, few_ms = statistics.median(many) * 1000, statistics.median(few) * 1000
    print(f"\n{defined} mappings over {args.groups} groups; medians of {args.logins} logins")
    print(
        f"first login, user in {args.groups} groups (assigns all roles): {first_many * 1000:.1f} ms"
    )
    print(f"fresh login, user in {args.groups} groups: {many_ms:.1f} ms")
    print(f"fresh login, user in 2 groups:   {few_ms:.1f} ms")
    print(f"ratio many/few: {many_ms / few_ms:.2f} x   (target <= 2)")
    print(f"steady state with 0 mappings:   {rps_0:.1f} req/s, {cpu_0:.2f} ms CPU/req")
    print(f"steady state with {defined} mappings: {rps_n:.1f} req/s, {cpu_n:.2f} ms CPU/req")
    print(f"ratio throughput {rps_n / rps_0:.2f} x, CPU {cpu_0 / cpu_n:.2f} x   (target >= 0.95)")


if __name__ == "__main__":
    main()
