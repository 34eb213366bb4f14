"""What ``mlflow server`` tells the processes it starts, through private variables.

``mlflow server`` imports the app module once in its own process, then starts workers
with ``_MLFLOW_SGI_NAME`` set (uvicorn / waitress / gunicorn) and, once it has created
the admin user, ``_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED``; ``--static-prefix`` arrives as
``_MLFLOW_STATIC_PREFIX``, the backend store's URI as ``_MLFLOW_SERVER_FILE_STORE``.
Their names are checked against MLflow by the contract test.

MLflow 3.18 adds ``_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY``: with it set, every worker
accepts a signed ``X-MLflow-Assistant-Delegation`` header as "this request is user X"
*before* the configured authorization function runs, so such a request would skip the
plugin's account checks (revalidation against the directory, ``allowed_groups``, the
login guard). ``mlflow server`` only generates the key for ``basic-auth``; an operator
can still set it by hand. The plugin refuses to start with it set
(``refuse_assistant_delegation``): a person removed from the directory must not keep
acting through a credential the plugin never sees.
"""

from __future__ import annotations

import logging
import os
import sys

_logger = logging.getLogger(__name__)

WORKER_MARKER_ENV = "_MLFLOW_SGI_NAME"
BOOTSTRAPPED_ENV = "_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED"
STATIC_PREFIX_ENV = "_MLFLOW_STATIC_PREFIX"
BACKEND_STORE_ENV = "_MLFLOW_SERVER_FILE_STORE"
#: MLflow 3.18 and newer (``contract.ADDED_IN``).
ASSISTANT_DELEGATION_KEY_ENV = "_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY"


class UnsafeMlflowSetting(Exception):
    """An MLflow setting would let requests past the plugin's account checks."""


def refuse_assistant_delegation(environ=os.environ) -> None:
    """Raise ``UnsafeMlflowSetting`` (one line) if Assistant delegation is enabled.

    An empty value counts as unset, as MLflow reads it (no key: no delegation).
    """
    if environ.get(ASSISTANT_DELEGATION_KEY_ENV):
        raise UnsafeMlflowSetting(
            f"mlflow-ldap-auth: {ASSISTANT_DELEGATION_KEY_ENV} is set: MLflow would accept "
            "Assistant delegation credentials ahead of the directory checks (revalidation, "
            "allowed_groups); unset it to start the server"
        )


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


def open_server_stores() -> None:
    """Build the tracking and model registry stores of this worker now, not at a request.

    MLflow builds each store at the first request that needs it (the permission check of
    any experiment or model request does), and every request arriving meanwhile waits
    for it: the store checks its schema against alembic's scripts, read from disk, and
    the database. After a start that is the first wave of requests (a login storm after
    a restart: its first 32 logins waited seconds); built as the worker starts, it is
    part of the start. Only in a worker of ``mlflow server`` (the backend store's URI is
    set); a store that cannot be built now is built at the first request, as before, and
    MLflow answers its error there.
    """
    if not os.environ.get(BACKEND_STORE_ENV):
        return
    from mlflow.server import handlers

    for build in (handlers._get_tracking_store, handlers._get_model_registry_store):
        try:
            build()
        except Exception as exc:  # noqa: BLE001 - MLflow answers it at the first request
            _logger.warning("MLflow's store not built at start (%s): %s", build.__name__, exc)
