"""MLflow's auth client, and the one private method of it the plugin's client uses."""

from __future__ import annotations

from mlflow.server.auth.client import AuthServiceClient


class MlflowAuthClient(AuthServiceClient):
    """``AuthServiceClient`` (users, roles, per-user grants) plus a call to any endpoint
    with the same credentials, host settings and error handling as MLflow's own calls."""

    def call(self, endpoint: str, method: str, **kwargs) -> dict:
        return self._request(endpoint, method, **kwargs)
