"""Active Directory: nested groups by the in-chain matching rule vs by tokenGroups.

    .venv/bin/python benchmarks/bench_ad_groups.py [--runs 50]

Starts the test Samba DC (ports 389/636 on 127.0.0.1) and resolves alice's groups
(3 levels of nesting plus a 1,601-member group) both ways over one bound connection:

* in-chain: one subtree search ``(member:1.2.840.113556.1.4.1941:=<user DN>)``;
* tokenGroups: a base search of the user for ``tokenGroups`` (SIDs), then one search
  for the groups with those ``objectSid`` values.

Reports the median time and the LDAP operations of each.
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import time
from pathlib import Path

import ldap3
from ldap3.utils.conv import escape_bytes

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "openldap")]

from samba_dc import BASE_DN, PASSWORD, SambaDC  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    dc = SambaDC().start()
    try:
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_cert_file)
        server = ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls)
        conn = ldap3.Connection(server, "svc-mlflow@corp.example.com", PASSWORD, auto_bind=True)
        conn.search(BASE_DN, "(sAMAccountName=alice)", attributes=["1.1"])
        user_dn = conn.response[0]["dn"]

        def in_chain() -> set[str]:
            conn.search(
                BASE_DN, f"(member:1.2.840.113556.1.4.1941:={user_dn})", attributes=["objectGUID"]
            )
            return {e["dn"] for e in conn.response if e["type"] == "searchResEntry"}

        def token_groups() -> set[str]:
            conn.search(user_dn, "(objectClass=*)", ldap3.BASE, attributes=["tokenGroups"])
            sids = conn.response[0]["raw_attributes"].get("tokenGroups", [])
            sid_filter = "".join(f"(objectSid={escape_bytes(sid)})" for sid in sids)
            conn.search(
                BASE_DN, f"(&(objectClass=group)(|{sid_filter}))", attributes=["objectGUID"]
            )
            return {e["dn"] for e in conn.response if e["type"] == "searchResEntry"}

        results = {}
        for name, resolve, operations in (
            ("in-chain", in_chain, 1),
            ("tokenGroups", token_groups, 2),
        ):
            groups = resolve()
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                resolve()
                times.append(time.perf_counter() - started)
            results[name] = (statistics.median(times) * 1000, operations, groups)
        conn.unbind()
    finally:
        dc.cleanup()
    for name, (ms, operations, groups) in results.items():
        print(
            f"{name:12} {ms:7.2f} ms median, {operations} LDAP operation(s), {len(groups)} groups"
        )
    chain, token = results["in-chain"][2], results["tokenGroups"][2]
    print(
        f"same groups apart from built-in ones: {sorted(chain - token)} / "
        f"{sorted(g.split(',')[0] for g in token - chain)}"
    )


if __name__ == "__main__":
    main()
