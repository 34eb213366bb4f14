"""A fresh login's directory reads for a user in 500 groups beside a user in 2, in-process.

    .venv/bin/python benchmarks/bench_group_reads.py [--logins 30]

Loads the directory of ``scale_directory.py`` (10,000 people, 2,000 groups nested three
levels deep; ``big`` in 400 teams, 80 departments and 20 divisions, ``small`` in 2
groups) into a throwaway slapd and, in this process, logs both users in with
``Directory.authenticate`` (the password bind, the user search, every group search),
interleaved, the group entry cache emptied before each: what a fresh login after a
cache flush reads. Reports the median CPU (``time.process_time``) and wall time per
login, then each LDAP search of one login of each user: its entries, the bytes slapd
sent, its filter's nodes and its CPU (the median over the logins).

CPU in one process is what the machine's other load moves least: ``bench_scale.py
--growth-only`` measures the same logins through the server, where the time of a
login also waits on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ldap3.core.usage import ConnectionUsage

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS.parent / "openldap"))

from bench_scale import X, build_directory, write_ldap_ini  # noqa: E402
from scale_directory import Shape, password_of  # noqa: E402

from mlflow_ldap_auth.config import load_settings  # noqa: E402
from mlflow_ldap_auth.ldap import connection as ldap_connection  # noqa: E402
from mlflow_ldap_auth.ldap.directory import Directory  # noqa: E402

USERS = ("small", "big")


class SearchSpy:
    """Wraps ``LdapConnection.search``: CPU, entries and bytes received of each search."""

    def __init__(self) -> None:
        self.searches: list[tuple[str, int, int, int, float]] = []
        self._search = ldap_connection.LdapConnection.search
        spy = self

        def search(connection, base, search_filter, scope, attributes):
            ldap3_connection = connection._connection
            if ldap3_connection.usage is None:  # ldap3 counts bytes only when asked to
                ldap3_connection._usage = ConnectionUsage()
            received = ldap3_connection.usage.bytes_received
            started = time.process_time()
            entries = spy._search(connection, base, search_filter, scope, attributes)
            cpu = time.process_time() - started
            received = ldap3_connection.usage.bytes_received - received
            where = base.split(",", 1)[0]
            spy.searches.append((where, search_filter.count("("), len(entries), received, cpu))
            return entries

        ldap_connection.LdapConnection.search = search  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=30, help="logins of each user")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-group-reads."))
    slapd, _, _ = build_directory(Shape(10_000, 2_000), workdir)
    try:
        ini = write_ldap_ini(workdir / "ldap.ini", slapd, workdir / "unused.db", 10_000)
        directory = Directory(load_settings(str(ini), environ={}).ldap)
        spy = SearchSpy()
        logins: dict[str, list[tuple[float, float]]] = defaultdict(list)
        searches: dict[tuple[str, int], list[tuple]] = defaultdict(list)
        for round_number in range(args.logins + 2):  # two rounds to warm up, not counted
            for uid in USERS:
                directory.forget_groups()
                spy.searches.clear()
                wall, cpu = time.perf_counter(), time.process_time()
                user = directory.authenticate(uid, password_of(uid))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if round_number < 2:
                    continue
                logins[uid].append((cpu, wall))
                for number, search in enumerate(spy.searches):
                    searches[uid, number].append(search)
            if round_number == 0:
                print(f"big: {len(user.group_dns)} groups, {len(user.group_parents)} paths")
        cpu_of = {uid: statistics.median(cpu for cpu, _ in logins[uid]) * 1000 for uid in USERS}
        for uid in USERS:
            wall = statistics.median(wall for _, wall in logins[uid]) * 1000
            print(f"{uid:5}: CPU {cpu_of[uid]:5.1f} ms, wall {wall:6.1f} ms (medians)")
        print(f"big / small by CPU: {cpu_of['big'] / cpu_of['small']:.1f} {X}")
        print("\n| user | search under | filter nodes | entries | bytes received | CPU |")
        print("|---|---|---|---|---|---|")
        for (uid, _), runs in sorted(searches.items()):
            where, clauses, entries, received, _ = runs[0]
            cpu = statistics.median(run[4] for run in runs) * 1000
            print(f"| {uid} | {where} | {clauses} | {entries} | {received:,} | {cpu:.2f} ms |")
    finally:
        slapd.cleanup()


if __name__ == "__main__":
    main()
