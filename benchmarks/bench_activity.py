"""What the activity table costs a login storm: ldap-auth with and without it, one run.

Two ldap-auth servers (2 workers each), each on its own database, and one generated
slapd: ``audit_retention_days = 30`` (the default: every login decision also goes to
``ldap_auth_audit``) and ``0`` (no table). Each gets the same storm of first logins
(different people, new connections, 32 clients) and then a flood of refused logins
(wrong passwords, which are audited too); the order of the two servers alternates per
round. Prints logins/s, p99 and server CPU per login of each, their ratio, and checks
that the table holds one row per decision.

    .venv/bin/python benchmarks/bench_activity.py            # ~3 minutes
    .venv/bin/python benchmarks/bench_activity.py --rounds 1 # ~1.5 minutes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from bench_auth import basic
from bench_scale import (
    Storm,
    X,
    build_directory,
    progress,
    start_ldap,
    stop_server,
    storm,
    wait_healthy,
    write_ldap_ini,
)
from bench_servers import cpu_seconds
from scale_directory import Shape, crowd_uid

CLIENTS = 32
PEOPLE_PER_STORM = 150
REFUSALS = 300


def with_retention(ini: Path, days: int) -> Path:
    text = ini.read_text()
    target = ini.with_name(f"{ini.stem}-{days}.ini")
    target.write_text(text + f"audit_retention_days = {days}\n")
    return target


def refusal_flood(server, uids: list[str]) -> Storm:
    """Wrong passwords for ``uids`` (each one refused and audited), ``CLIENTS`` at a time."""
    import queue
    import threading

    from bench_revalidation import KeepAlive

    work: queue.Queue[str] = queue.Queue()
    for uid in uids:
        work.put(uid)
    latencies, errors = [], []
    lock = threading.Lock()

    def run() -> None:
        client = KeepAlive(server.port)
        try:
            while True:
                try:
                    uid = work.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                status, _ = client.get(
                    "/api/2.0/mlflow/experiments/get?experiment_id=0", basic(uid, "wrong")
                )
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if status != 401:
                        errors.append(f"{uid}: HTTP {status}")
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
    cpu_before = cpu_seconds(pgid=server.process.pid)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Storm(
        logins=len(uids),
        seconds=time.monotonic() - started,
        latencies=latencies,
        errors=errors,
        server_cpu=cpu_seconds(pgid=server.process.pid) - cpu_before,
    )


def audit_rows(database: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM ldap_auth_audit")).scalar()
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    people = PEOPLE_PER_STORM * 2 * args.rounds
    with tempfile.TemporaryDirectory(prefix="bench-activity.") as tmp:
        workdir = Path(tmp)
        slapd, _, _ = build_directory(
            Shape(users=people + 50, groups=200, mid_groups=20, big_groups=100), workdir
        )
        try:
            runs: dict[int, list[tuple[Storm, Storm]]] = {30: [], 0: []}
            rows: dict[int, int] = {}
            databases = {days: workdir / f"retention-{days}.db" for days in runs}
            servers = {}
            for days, database in databases.items():
                ini = write_ldap_ini(workdir / f"r{days}.ini", slapd, database, 10_000)
                servers[days] = start_ldap(f"ldap-r{days}", with_retention(ini, days), 2, workdir)
            try:
                for server in servers.values():
                    wait_healthy(server, 2)
                next_uid = 0
                for round_number in range(args.rounds):
                    order = [30, 0] if round_number % 2 == 0 else [0, 30]
                    for days in order:
                        uids = [crowd_uid(next_uid + i) for i in range(PEOPLE_PER_STORM)]
                        next_uid += PEOPLE_PER_STORM
                        logins = storm(servers[days], uids, CLIENTS, slapd)
                        refused = refusal_flood(
                            servers[days], [f"nobody-{round_number}-{i}" for i in range(REFUSALS)]
                        )
                        runs[days].append((logins, refused))
                        progress(
                            f"retention {days}: {logins.rate:.1f} logins/s, "
                            f"{refused.rate:.1f} refusals/s, "
                            f"{len(logins.errors) + len(refused.errors)} errors"
                        )
                time.sleep(2)  # the recorder writes every 0.5 s
            finally:
                for server in servers.values():
                    stop_server(server)
            for days, database in databases.items():
                rows[days] = audit_rows(database)
        finally:
            slapd.cleanup()

    def median(days: int, index: int, attribute: str) -> float:
        return statistics.median(getattr(run[index], attribute) for run in runs[days])

    decisions = args.rounds * (PEOPLE_PER_STORM + REFUSALS)
    print()
    print(f"Activity table cost ({args.rounds} rounds, {CLIENTS} clients, 2 workers each)")
    print(f"{'':28} {'with table':>12} {'without':>12} {'ratio':>8}")
    for label, index in (("first logins", 0), ("refused logins", 1)):
        for name, attribute, unit in (
            ("per s", "rate", ""),
            ("p99", "p99_ms", " ms"),
            ("server CPU / login", "cpu_ms", " ms"),
        ):
            on, off = median(30, index, attribute), median(0, index, attribute)
            print(
                f"{label + ' ' + name:28} {on:>10.1f}{unit:3} {off:>9.1f}{unit:3} "
                f"{on / off:>7.2f}{X}"
            )
    print(f"rows in ldap_auth_audit: {rows[30]} (decisions made: {decisions}; without: {rows[0]})")
    errors = sum(len(r.errors) for pair in runs[30] + runs[0] for r in pair)
    print(f"errors: {errors}")
    return 0 if errors == 0 and rows[30] >= decisions and rows[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
