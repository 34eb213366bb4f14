"""A throwaway Samba Active Directory domain controller on 127.0.0.1 (ports 389/636).

Provisioned into its own ``mktemp -d`` directory with its own CA, seeded by
``ad/seed_ad.py`` (Debian's /usr/bin/python3 carries the samba bindings), started in
the foreground (``samba -i -M single``), stopped by its own PID.

``SambaDC(kdc=True)`` also runs the DC's KDC (127.0.0.1:88 and 464) and, offline before
the start like the seeding, exports the keytab of ``HTTP/localhost`` (the seeded account
``svc-http``, AES keys) to ``keytab``: after the seeding, because a keytab exported before
a change of the account's enctypes or password holds keys the KDC no longer uses. Its
``realm`` (kerberos_realm.py) gets tickets and the client's and server's environment.
The KDC is ready when ``kinit`` gets a ticket: an open port 88 is not.

Its ports are fixed, so one DC at a time runs on the machine: ``start`` takes a lock
file (``LOCK_FILE``, released by ``stop``) that another DC, from another pytest worker
or another test run, waits for. The KDC's ports are fixed too and guarded by the same
lock, whether or not the DC holding it runs a KDC.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import ldap3

from kerberos_realm import KerberosRealm
from slapd_instance import make_certificates

HERE = Path(__file__).resolve().parent
REALM = "CORP.EXAMPLE.COM"
DOMAIN = "CORP"
BASE_DN = "DC=corp,DC=example,DC=com"
USERS_DN = f"CN=Users,{BASE_DN}"
PASSWORD = "Corp-Passw0rd!42"  # every seeded user's (Samba's complexity rules)
ADMIN_PASSWORD = "Admin-Passw0rd!42"
#: Held while a DC of these tests owns 127.0.0.1:389/636 (and 88/464 with its KDC).
LOCK_FILE = Path(tempfile.gettempdir()) / "mlflow-ldap-auth-samba-dc.lock"
#: How long a DC waits for another one's test module to finish with the ports.
LOCK_WAIT_SECONDS = 900
#: Bounds on samba-tool's provisioning, the seeding and the start, which only stop a
#: hung tool: ~7 s, <1 s and ~1 s on an idle machine, but provisioning took over 120 s
#: on a busy 2-core machine running the suite on several workers.
PROVISION_SECONDS = 600
SEED_SECONDS = 600
READY_SECONDS = 120
#: Active Directory's "member of, at any depth" matching rule (LDAP_MATCHING_RULE_IN_CHAIN).
IN_CHAIN = "(member:1.2.840.113556.1.4.1941:={user_dn})"


#: The seeded account whose password the KDC readiness probe uses.
KDC_PROBE_USER = "alice"


class SambaDC:
    def __init__(self, kdc: bool = False) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="samba."))
        self.kdc = kdc
        self.process: subprocess.Popen | None = None
        self.log_file = self.directory / "samba.out"
        self._lock = None
        #: The service's keytab (only with ``kdc=True``), exported before the start.
        self.keytab = self.directory / "http.keytab"
        self.realm = KerberosRealm(REALM, self.directory, self.keytab) if kdc else None

    @property
    def ldaps_uri(self) -> str:
        return "ldaps://127.0.0.1:636"

    @property
    def ldap_uri(self) -> str:
        return "ldap://127.0.0.1:389"

    @property
    def ca_cert_file(self) -> str:
        return str(self.directory / "tls" / "ca.crt")

    def _options(self) -> list[str]:
        d = self.directory
        tls = d / "tls"
        options = {
            "interfaces": "lo",
            "bind interfaces only": "yes",
            "server services": "ldap kdc" if self.kdc else "ldap",
            "pid directory": d / "run",
            "lock directory": d / "lock",
            "state directory": d / "state",
            "cache directory": d / "cache",
            "log file": d / "log" / "samba.log",
            "ncalrpc dir": d / "ncalrpc",
            "winbindd socket directory": d / "winbindd",
            "tls enabled": "yes",
            "tls keyfile": tls / "server.key",
            "tls certfile": tls / "server.crt",
            "tls cafile": tls / "ca.crt",
        }
        return [f"--option={key} = {value}" for key, value in options.items()]

    def _take_ports(self) -> None:
        """Wait (at most ``LOCK_WAIT_SECONDS``) until no other DC of the tests runs."""
        self._lock = LOCK_FILE.open("a")
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._release_ports()
                    raise RuntimeError(f"another Samba DC held {LOCK_FILE} too long") from None
                time.sleep(0.5)

    def _release_ports(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def start(self, timeout: float = READY_SECONDS) -> SambaDC:
        try:
            return self._start(timeout)
        except BaseException:
            self.cleanup()  # a module fixture that fails to start tears nothing down
            raise

    def _start(self, timeout: float) -> SambaDC:
        make_certificates(self.directory / "tls")
        (self.directory / "tls" / "server.key").chmod(0o600)
        subprocess.run(
            [
                "samba-tool",
                "domain",
                "provision",
                f"--targetdir={self.directory}",
                f"--realm={REALM}",
                f"--domain={DOMAIN}",
                "--server-role=dc",
                "--dns-backend=NONE",
                "--use-rfc2307",
                f"--adminpass={ADMIN_PASSWORD}",
                *self._options(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=PROVISION_SECONDS,
        )
        smb_conf = str(self.directory / "etc" / "smb.conf")
        subprocess.run(
            ["/usr/bin/python3", str(HERE / "ad" / "seed_ad.py"), smb_conf, PASSWORD],
            check=True,
            capture_output=True,
            text=True,
            timeout=SEED_SECONDS,
        )
        if self.kdc:
            self.export_keytab()
        self._take_ports()  # provisioned and seeded offline above, side by side
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                ["samba", "-i", "-M", "single", "-s", smb_conf],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"samba exited:\n{self.log_file.read_text()}")
            if self._root_dse_answers() and self._kdc_answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"samba not ready after {timeout}s:\n{self.log_file.read_text()}")

    def export_keytab(self) -> None:
        """(Re-)write ``keytab`` with ``HTTP/localhost``'s current keys (offline or online:
        samba-tool reads sam.ldb directly)."""
        self.keytab.unlink(missing_ok=True)  # only the current keys, not merged into old ones
        subprocess.run(
            [
                "samba-tool",
                "domain",
                "exportkeytab",
                str(self.keytab),
                "--principal=HTTP/localhost",
                "-s",
                str(self.directory / "etc" / "smb.conf"),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=SEED_SECONDS,
        )

    def _kdc_answers(self) -> bool:
        if self.realm is None:
            return True
        try:
            self.realm.kinit(KDC_PROBE_USER, PASSWORD)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False
        return True

    def _root_dse_answers(self) -> bool:
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_cert_file)
        server = ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls, connect_timeout=1)
        connection = ldap3.Connection(server, receive_timeout=2)
        try:
            connection.open()
            return connection.search("", "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):  # a half-open socket may refuse unbind
                connection.unbind()
            sock = getattr(connection, "socket", None)
            if sock is not None:
                sock.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._release_ports()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def ad_settings(ca_file: str) -> dict:
    """The Active Directory example of docs/active-directory.md, pointed at the test DC."""
    return {
        "tls_ca_cert_file": ca_file,
        "bind_dn": "svc-mlflow@corp.example.com",
        "bind_password": PASSWORD,
        "user_search_base": BASE_DN,
        "user_search_filter": "(&(objectClass=user)(sAMAccountName={username}))",
        "username_attribute": "sAMAccountName",
        "group_search_base": BASE_DN,
        "group_search_filter": IN_CHAIN,
        # Measured ~50 x faster than the in-chain rule on this DC; in-chain is tested below.
        "nested_groups_method": "token_groups",
        "admin_groups": f"CN=mlflow-admins,{USERS_DN}",
        # Its minimum: the token tests see accounts disabled or locked in the domain.
        "revalidate_interval_seconds": "10",
    }


def lock_out(dc, name: str) -> None:
    """Three bad binds straight at the DC: the domain locks after 3 (seed_ad.py)."""
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_cert_file)
    for attempt in range(3):
        connection = ldap3.Connection(
            ldap3.Server("127.0.0.1", port=636, use_ssl=True, tls=tls),
            user=f"{name}@corp.example.com",
            password=f"Wrong-{attempt}-Pw!",
        )
        assert not connection.bind()
        connection.unbind()
