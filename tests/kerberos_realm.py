"""The Kerberos realm of the test Samba DC, as a client and a web service see it.

The DC's KDC (``SambaDC(kdc=True)``) answers on 127.0.0.1:88. What makes MIT Kerberos
talk to it, and only to it:

- ``krb5.conf`` of its own (``KRB5_CONFIG``), never the machine's /etc/krb5.conf, which
  the krb5-user package writes for some other realm. It names the KDC by address and turns
  off every DNS lookup (SRV records for the KDC and the realm, reverse lookups and the
  canonicalisation of host names): the machine has no DNS for CORP.EXAMPLE.COM, and a
  canonicalised ``localhost`` would ask for a ticket to another name.
- The service is ``HTTP/localhost``: a client asks a ticket for ``HTTP/<host in the URL>``
  (no port), and the tests open ``http://localhost:PORT``. ``[domain_realm]`` maps that
  host to the realm, since no DNS does.
- A ``FILE:`` ticket cache per ``kinit`` (``KRB5CCNAME``), so tests signed in as different
  people, or on different pytest workers, never share or overwrite one another's tickets.
- The server's replay cache in a private directory (``KRB5RCACHEDIR``): the default one in
  /var/tmp is shared by every process of the machine, so a test's "this token is a replay"
  would depend on what other servers accepted before.

The server is not given ``KRB5_KTNAME`` here: it finds the keytab through its own setting
(``kerberos_keytab``), which is what a test of that setting must see.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

#: Bound on one ``kinit`` or ``ktutil`` (tens of ms on an idle machine): it only stops a
#: hung KDC or tool.
KINIT_SECONDS = 30
#: The web service's SPN, seeded on the account ``svc-http`` (tests/ad/seed_ad.py).
SERVICE = "HTTP/localhost"


class KerberosRealm:
    """The test realm's ``krb5.conf``, tickets and keytab, under ``directory``."""

    def __init__(self, realm: str, directory: Path, keytab: Path, kdc: str = "127.0.0.1:88"):
        self.realm = realm
        self.directory = directory
        self.keytab = keytab
        self.kdc = kdc
        self.krb5_conf = directory / "krb5.conf"
        self.krb5_conf.write_text(self._krb5_conf())

    @property
    def service_principal(self) -> str:
        """``HTTP/localhost@CORP.EXAMPLE.COM``: the principal the keytab holds."""
        return f"{SERVICE}@{self.realm}"

    def _krb5_conf(self) -> str:
        return f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false

[realms]
    {self.realm} = {{
        kdc = {self.kdc}
    }}

[domain_realm]
    localhost = {self.realm}
    .localhost = {self.realm}
"""

    def kinit(self, user: str, password: str) -> Path:
        """A fresh ``FILE:`` ticket cache holding ``user``'s TGT; raises if the KDC refuses.

        ``user`` without ``@`` is in this realm.
        """
        principal = user if "@" in user else f"{user}@{self.realm}"
        ccache = Path(tempfile.mkdtemp(prefix="ccache.", dir=self.directory)) / "ccache"
        subprocess.run(
            ["kinit", principal],
            input=password + "\n",
            env=self._base_env() | self.client_env(ccache),
            check=True,
            capture_output=True,
            text=True,
            timeout=KINIT_SECONDS,
        )
        return ccache

    def client_env(self, ccache: Path) -> dict[str, str]:
        """What a client process (requests-gssapi, the MLflow client, Chromium) adds to its
        environment to use ``ccache``'s tickets in this realm."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5CCNAME": f"FILE:{ccache}"}

    def server_env(self, tmpdir: Path) -> dict[str, str]:
        """What an ``mlflow server`` process adds to its environment: this realm's
        ``krb5.conf`` and a replay cache of its own under ``tmpdir``."""
        rcache = Path(tmpdir) / "rcache"
        rcache.mkdir(mode=0o700, parents=True, exist_ok=True)
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5RCACHEDIR": str(rcache)}

    @staticmethod
    def _base_env() -> dict[str, str]:
        # The caller's environment without its own Kerberos settings (KRB5CCNAME,
        # KRB5_CONFIG, ...): only this realm's may reach kinit.
        return {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("KRB5", "KPASSWD"))
        }


def write_keytab(path: Path, keys: list[tuple[str, int, str]], password: str) -> Path:
    """A keytab written by MIT's ``ktutil`` (no KDC): one key of ``password`` for each
    (principal, kvno, enctype), in that order. For keytabs the DC would never export."""
    commands = "".join(
        f"addent -password -p {principal} -k {kvno} -e {enctype}\n{password}\n"
        for principal, kvno, enctype in keys
    )
    subprocess.run(
        ["ktutil"],
        input=f"{commands}wkt {path}\nquit\n",
        env={"KRB5_CONFIG": os.devnull, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=True,
        capture_output=True,
        text=True,
        timeout=KINIT_SECONDS,
    )
    return path
