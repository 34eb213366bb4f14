"""A throwaway OpenLDAP ``slapd`` on loopback, for tests and the demo.

Standard library only, so the tests and the demo script can both use it without the
project installed. Everything lives in a private ``mktemp -d`` directory; the system's
own LDAP configuration is never read or touched.

    with SlapdInstance() as slapd:       # free ports, generated CA, seeded
        slapd.ldap_uri, slapd.ldaps_uri, slapd.ca_cert_file

Run as a script it starts one instance on fixed ports for the demo and waits.
"""

from __future__ import annotations

import os
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

# Demo logins (also printed by the demo).
DEMO_USERS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "carol": "carol-password",
    "dave": "dave-password",
    "jsmith": "jsmith-password",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def make_certificates(tls_dir: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    tls_dir.mkdir(mode=0o700)
    ca_key, ca_crt = tls_dir / "ca.key", tls_dir / "ca.crt"
    key, csr, crt = tls_dir / "server.key", tls_dir / "server.csr", tls_dir / "server.crt"
    ext = tls_dir / "server.ext"
    _run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=mlflow-ldap-auth test CA", "-keyout", str(ca_key), "-out", str(ca_crt)]
    )
    _run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]
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
    ) -> None:
        self.port = port or free_port()
        self.tls_port = tls_port or free_port()
        self.root_password = "root-" + os.urandom(8).hex()
        self.directory = Path(tempfile.mkdtemp(prefix="slapd."))
        self.log_file = self.directory / "slapd.log"
        self._seed = seed
        self._memberof = memberof  # False: a directory that maintains no memberOf
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
        for key, value in {
            "@DIR@": str(self.directory),
            "@SERVICE_DN@": SERVICE_DN,
            "@ROOT_PASSWORD@": self.root_password,
        }.items():
            config = config.replace(key, value)
        (self.directory / "config.ldif").write_text(config)
        (self.directory / "slapd.d").mkdir()
        (self.directory / "data").mkdir()
        _run(
            [SLAPADD, "-n0", "-F", str(self.directory / "slapd.d")]
            + ["-l", str(self.directory / "config.ldif")]
        )
        urls = f"{self.ldap_uri}/ {self.ldaps_uri}/"
        with self.log_file.open("w") as log:
            self._process = subprocess.Popen(
                [SLAPD, "-d", "stats", "-F", str(self.directory / "slapd.d"), "-h", urls],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)
        if self._seed:
            self.ldif("ldapadd", (HERE / "seed.ldif").read_text())
        return self

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
    def ldif(self, tool: str, text: str) -> str:
        """Run ``ldapadd``/``ldapmodify``/``ldapmodrdn`` as the root DN with LDIF on stdin."""
        result = subprocess.run(
            [tool, "-x", "-H", self.ldap_uri, "-D", ROOT_DN, "-w", self.root_password],
            input=text,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SlapdError(f"{tool} failed ({result.returncode}): {result.stderr}")
        return result.stdout

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
