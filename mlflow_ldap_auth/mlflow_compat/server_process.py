"""What ``mlflow server`` tells the processes it starts, through private variables.

``mlflow server`` imports the app module once in its own process, then starts workers
with ``_MLFLOW_SGI_NAME`` set (uvicorn / waitress / gunicorn) and, once it has created
the admin user, ``_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED``; ``--static-prefix`` arrives as
``_MLFLOW_STATIC_PREFIX``. Their names are checked against MLflow by the contract test.
"""

from __future__ import annotations

import os
import sys

WORKER_MARKER_ENV = "_MLFLOW_SGI_NAME"
BOOTSTRAPPED_ENV = "_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED"
STATIC_PREFIX_ENV = "_MLFLOW_STATIC_PREFIX"


def is_mlflow_server_command() -> bool:
    """Is this the ``mlflow server`` process itself (not one of its workers)?"""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    return (
        WORKER_MARKER_ENV not in os.environ
        and argv0 in ("mlflow", "mlflow.exe", "__main__.py")
        and "server" in sys.argv[1:]
    )


def admin_bootstrapped() -> bool:
    """Did the ``mlflow server`` process already create the admin and migrate?"""
    return bool(os.environ.get(BOOTSTRAPPED_ENV))


def mark_admin_bootstrapped() -> None:
    os.environ[BOOTSTRAPPED_ENV] = "true"


def static_prefix() -> str:
    """The server's ``--static-prefix`` without a trailing slash ("" when none)."""
    return os.environ.get(STATIC_PREFIX_ENV, "").rstrip("/")
