"""Python client: ``mlflow.server.get_app_client("ldap-auth", tracking_uri=...)``.

Everything MLflow's ``AuthServiceClient`` offers (users, roles, per-user grants),
authenticated like any MLflow client (``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD``).
"""

from __future__ import annotations

from mlflow.server.auth.client import AuthServiceClient


class LdapAuthServiceClient(AuthServiceClient):
    """MLflow's auth client for a server started with ``--app-name ldap-auth``."""
