"""A throwaway OpenLDAP ``slapd`` on loopback, for tests and the demo.

Standard library only, so the tests and the demo script can both use it without the
project installed. Everything lives in a private ``mktemp -d`` directory; the system's
own LDAP configuration is never read or touched.

    with SlapdInstance() as slapd:       # free ports, generated CA, seeded
        slapd.ldap_uri, slapd.ldaps_uri, slapd.ca_cert_file

``SlapdInstance(password_policy=True)`` adds the ppolicy overlay (ppolicy.ldif.in) and
its policies (ppolicy-seed.ldif), with helpers to lock, unlock and re-password people.

``stop()`` then ``start_again()`` restarts slapd on the same ports with its data, as
an operator restarting a directory server would.

``SlapdInstance(seed=False, preload=path)`` loads a large LDIF file with ``slapadd``
before slapd starts (seconds for tens of thousands of entries, where ``ldapadd`` takes
minutes). No overlay runs in ``slapadd``: the file carries the ``memberOf`` values the
memberof overlay would have written.

Run as a script it starts one instance on fixed ports for the demo and waits.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"

BASE_DN = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE_DN}"
SERVICE_DN = f"cn=mlflow-service,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "service-password"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
#: The default password policy of SlapdInstance(password_policy=True) (ppolicy-seed.ldif).
POLICY_DN = f"cn=default,ou=policies,{BASE_DN}"
POLICY_MAX_FAILURE = 3  # its pwdMaxFailure: this many wrong passwords lock an account
#: A laxer policy for the entries that name it in pwdPolicySubentry (``set_policy``).
RELAXED_POLICY_DN = f"cn=relaxed,ou=policies,{BASE_DN}"
RELAXED_MAX_FAILURE = 6
#: pwdAccountLockedTime of an account locked until an administrator unlocks it.
PERMANENTLY_LOCKED = "000001010000Z"

# Demo logins (also printed by the demo).
DEMO_USERS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "carol": "carol-password",
    "dave": "dave-password",
    "jsmith": "jsmith-password",
}


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE_DN}"


#: How many ports below the kernel's ephemeral range ``free_port`` picks from.
LISTENER_PORTS = 12_000


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (and port 0)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free on 127.0.0.1 now, below the kernel's ephemeral range.

    A port the kernel hands out (a bind to port 0) comes from the range every outgoing
    connection takes its local port from: a server stopped and started again on the
    same port (a directory's outage and return) could find it held by some client's
    connection meanwhile, and fail with "address already in use" (seen on a busy
    machine). Below the range only another listener can take it, and the helpers
    that start one retry on another port when that happens.
    """
    low, _ = ephemeral_ports()
    first = max(1024, low - LISTENER_PORTS)
    for _ in range(1000):
        port = random.randrange(first, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {first}-{low - 1}")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def make_certificates(tls_dir: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 / localhost, made with openssl.

    Elliptic-curve keys (P-256): an RSA-2048 key costs openssl a tenth of a second or
    more of CPU to make, and every directory of the tests makes two."""
    tls_dir.mkdir(mode=0o700)
    ca_key, ca_crt = tls_dir / "ca.key", tls_dir / "ca.crt"
    key, csr, crt = tls_dir / "server.key", tls_dir / "server.csr", tls_dir / "server.crt"
    ext = tls_dir / "server.ext"
    _run(
        ["openssl", "req", "-x509", *_EC_KEY, "-nodes", "-days", "2"]
        + ["-subj", "/CN=mlflow-ldap-auth test CA", "-keyout", str(ca_key), "-out", str(ca_crt)]
    )
    _run(
        ["openssl", "req", *_EC_KEY, "-nodes", "-subj", "/CN=localhost"]
        + ["-keyout", str(key), "-out", str(csr)]
    )
    ext.write_text(
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "extendedKeyUsage = serverAuth\n"
        "basicConstraints = CA:FALSE\n"
    )
    _run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key)]
        + ["-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)]
    )


class SlapdError(RuntimeError):
    pass


class SlapdInstance:
    """One private slapd process: start(), seed(), stop(); a context manager too."""

    def __init__(
        self,
        port: int | None = None,
        tls_port: int | None = None,
        seed: bool = True,
        memberof: bool = True,
        password_policy: bool = False,
        preload: str | os.PathLike | None = None,
    ) -> None:
        self._ports_chosen = port is None and tls_port is None
        self.port = port or free_port()
        self.tls_port = tls_port or free_port()
        self.root_password = "root-" + os.urandom(8).hex()
        self.directory = Path(tempfile.mkdtemp(prefix="slapd."))
        self.log_file = self.directory / "slapd.log"
        self._seed = seed
        self._memberof = memberof  # False: a directory that maintains no memberOf
        # True: the ppolicy overlay with POLICY_DN (lock after 3 failures, no expiry)
        self.password_policy = password_policy
        # An LDIF file slapadd'ed into the database before slapd starts (see above).
        self._preload = Path(preload) if preload is not None else None
        self._process: subprocess.Popen | None = None

    # -- addresses -------------------------------------------------------
    @property
    def ldap_uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_cert_file(self) -> str:
        return str(self.directory / "tls" / "ca.crt")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    # -- life cycle ------------------------------------------------------
    def start(self, timeout: float = 10.0) -> SlapdInstance:
        make_certificates(self.directory / "tls")
        config = (HERE / "config.ldif.in").read_text()
        if not self._memberof:
            config = config.split("dn: olcOverlay={0}memberof")[0]
        if self.password_policy:
            config = config.rstrip("\n") + "\n\n" + (HERE / "ppolicy.ldif.in").read_text()
        for key, value in {
            "@DIR@": str(self.directory),
            "@SERVICE_DN@": SERVICE_DN,
            "@ROOT_PASSWORD@": self.root_password,
            "@BASE_DN@": BASE_DN,
            "@OVERLAY_INDEX@": "1" if self._memberof else "0",
        }.items():
            config = config.replace(key, value)
        (self.directory / "config.ldif").write_text(config)
        (self.directory / "slapd.d").mkdir()
        (self.directory / "data").mkdir()
        _run(
            [SLAPADD, "-n0", "-F", str(self.directory / "slapd.d")]
            + ["-l", str(self.directory / "config.ldif")]
        )
        if self._preload is not None:
            # -q: no consistency checks, for speed; the file is generated, not typed.
            _run(
                [SLAPADD, "-q", "-n1", "-F", str(self.directory / "slapd.d")]
                + ["-l", str(self._preload)]
            )
        for attempt in range(3):
            self._launch("w")
            try:
                self._wait_ready(timeout)
                break
            except SlapdError:
                # A free port can be taken by another process before slapd binds it.
                taken = "Address already in use" in self.log_file.read_text()
                if not (taken and self._ports_chosen and attempt < 2):
                    raise
                self.port, self.tls_port = free_port(), free_port()
        if self._seed:
            self.ldif("ldapadd", (HERE / "seed.ldif").read_text())
            if self.password_policy:
                self.ldif("ldapadd", (HERE / "ppolicy-seed.ldif").read_text())
        return self

    def start_again(self, timeout: float = 10.0) -> SlapdInstance:
        """slapd again after ``stop()``: the same ports, data, certificates and log.

        What a directory server restarted by its operator looks like to its clients
        (the same address, the same CA). The ports are never changed: if another
        process took one meanwhile, this fails.
        """
        if self._process is not None:
            raise SlapdError("slapd is still running; stop() it first")
        self._launch("a")  # the log goes on: counts of earlier operations stay
        self._wait_ready(timeout)
        return self

    def _launch(self, log_mode: str) -> None:
        urls = f"{self.ldap_uri}/ {self.ldaps_uri}/"
        with self.log_file.open(log_mode) as log:
            self._process = subprocess.Popen(
                [SLAPD, "-d", "stats", "-F", str(self.directory / "slapd.d"), "-h", urls],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SlapdError(
                    f"slapd exited with {self._process.returncode}:\n{self.log_file.read_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                with socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SlapdError(f"slapd not listening after {timeout}s:\n{self.log_file.read_text()}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SlapdInstance:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- changing the directory -----------------------------------------
    def ldif(self, tool: str, text: str, *options: str) -> str:
        """Run ``ldapadd``/``ldapmodify``/``ldapmodrdn`` as the root DN with LDIF on stdin.

        ``options`` go on the command line too, e.g. ``"-e", "relax"``.
        """
        result = subprocess.run(
            [tool, "-x", "-H", self.ldap_uri, "-D", ROOT_DN, "-w", self.root_password]
            + list(options),
            input=text,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SlapdError(f"{tool} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def read_attributes(self, dn: str, *attrs: str) -> dict[str, list[str]]:
        """The values of ``attrs`` (all user attributes if none) of ``dn``, read as the
        root DN: ``{name as slapd spells it: [values]}``, absent attributes left out.

        Operational attributes (``pwdChangedTime``, ...) are returned only when named.
        """
        result = subprocess.run(
            ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.ldap_uri]
            + ["-D", ROOT_DN, "-w", self.root_password, "-b", dn, "-s", "base"]
            + ["(objectClass=*)", *attrs],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SlapdError(f"ldapsearch failed ({result.returncode}): {result.stderr}")
        values: dict[str, list[str]] = {}
        for line in result.stdout.splitlines():
            if not line or line.startswith(("#", "dn:", "dn::")):
                continue
            name, _, value = line.partition(":")
            if value.startswith(":"):  # base64: a value that is not printable ASCII
                value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
            else:
                value = value[1:] if value.startswith(" ") else value
            values.setdefault(name, []).append(value)
        return values

    # -- password policy (password_policy=True) -------------------------
    def _require_policy(self) -> None:
        if not self.password_policy:
            raise SlapdError("this slapd has no password policy (password_policy=False)")

    def lock_account(self, uid: str) -> str:
        """Lock ``uid=<uid>,ou=people`` as an administrator would: ``pwdAccountLockedTime``
        set to ``000001010000Z``, ppolicy's value for "locked until unlocked". Binds with
        the right password then fail (49) as after pwdMaxFailure wrong ones. Its DN.
        """
        self._require_policy()
        dn = person_dn(uid)
        self.ldif(
            "ldapmodify",
            f"dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\n"
            f"pwdAccountLockedTime: {PERMANENTLY_LOCKED}\n",
        )
        return dn

    def unlock_account(self, uid: str) -> str:
        """Unlock ``uid``: remove ``pwdAccountLockedTime`` and the recorded
        ``pwdFailureTime`` values (the latter is NO-USER-MODIFICATION: needs the relax
        control), so the next wrong password counts from zero. Works on an account that
        is not locked too. Its DN.
        """
        self._require_policy()
        dn = person_dn(uid)
        self.ldif(
            "ldapmodify",
            f"dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\n-\n"
            "replace: pwdFailureTime\n-\n",
            "-e",
            "relax",
        )
        return dn

    def set_password(self, uid: str, new_password: str) -> str:
        """Replace the password of ``uid`` as the root DN (an LDAP modify of
        ``userPassword``, stored hashed by olcPPolicyHashCleartext); the overlay sets
        ``pwdChangedTime`` to now (1-second resolution) and, as on any password change,
        removes ``pwdAccountLockedTime`` and ``pwdFailureTime``: a reset unlocks. Its DN.
        """
        self._require_policy()
        dn = person_dn(uid)
        self.ldif(
            "ldapmodify",
            f"dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {new_password}\n",
        )
        return dn

    def set_policy(self, uid: str, policy_dn: str) -> str:
        """Put ``uid`` under the password policy at ``policy_dn`` (its
        ``pwdPolicySubentry``) instead of the default one. Its DN."""
        self._require_policy()
        dn = person_dn(uid)
        self.ldif(
            "ldapmodify",
            f"dn: {dn}\nchangetype: modify\nreplace: pwdPolicySubentry\n"
            f"pwdPolicySubentry: {policy_dn}\n",
        )
        return dn

    def stats_lines(self) -> list[str]:
        """The operations slapd logged so far (``-d stats``)."""
        return self.log_file.read_text(errors="replace").splitlines()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run the demo slapd until interrupted.")
    parser.add_argument("--port", type=int, default=3389)
    parser.add_argument("--tls-port", type=int, default=3636)
    args = parser.parse_args()
    instance = SlapdInstance(args.port, args.tls_port).start()
    print(f"slapd pid {instance.pid} on {instance.ldap_uri} and {instance.ldaps_uri}", flush=True)
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        instance.cleanup()


if __name__ == "__main__":
    main()
