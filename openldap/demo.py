"""Start the demo: seeded slapd + `mlflow server --app-name ldap-auth` on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from slapd_instance import DEMO_USERS, SlapdInstance

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="MLflow port (default 5000)")
    parser.add_argument("--ldap-port", type=int, default=3389, help="must match ldap_auth.ini")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mlflow-ldap-demo."))
    admin_password = "breakglass-" + secrets.token_hex(6)
    slapd = SlapdInstance(args.ldap_port, args.ldap_port + 247).start()
    env = dict(os.environ)
    env.pop("MLFLOW_LDAP_AUTH_CONFIG_PATH", None)  # the packaged default points at this slapd
    env.update(
        MLFLOW_AUTH_ADMIN_PASSWORD=admin_password,
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    server = subprocess.Popen(
        [
            mlflow,
            "server",
            "--app-name",
            "ldap-auth",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--backend-store-uri",
            f"sqlite:///{workdir}/mlflow.db",
            "--default-artifact-root",
            f"{workdir}/artifacts",
            "--workers",
            "2",
        ],
        cwd=workdir,
        env=env,
        start_new_session=True,
    )
    print(
        f"\nslapd (pid {slapd.pid}) on {slapd.ldap_uri}; MLflow on http://127.0.0.1:{args.port}\n"
        "Demo logins (directory users):\n"
        "  carol / carol-password   MLflow admin (group mlflow-admins)\n"
        "  alice / alice-password   data-science\n"
        "  bob   / bob-password     ml-platform, nested in data-science\n"
        "  dave  / dave-password    no MLflow group\n"
        f"  jsmith / {DEMO_USERS['jsmith']}\n"
        f"Break-glass local admin: admin / {admin_password}\n"
        f"Data in {workdir}. Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(15)
        slapd.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
