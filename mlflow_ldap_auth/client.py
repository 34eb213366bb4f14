"""Python client: ``mlflow.server.get_app_client("ldap-auth", tracking_uri=...)``.

Everything MLflow's ``AuthServiceClient`` offers (users, roles, per-user grants) plus
the group mappings and the plugin's status, authenticated like any MLflow client
(``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``). Mappings come back as
dicts with the fields ``id``, ``group`` (current DN), ``group_uuid``, ``group_name``,
``resource_type``, ``resource_pattern``, ``permission``, ``workspace``.
"""

from __future__ import annotations

from urllib.parse import quote

from mlflow_ldap_auth.mlflow_compat.client_base import MlflowAuthClient

API = "/api/2.0/mlflow/ldap-auth"


class LdapAuthServiceClient(MlflowAuthClient):
    """MLflow's auth client for a server started with ``--app-name ldap-auth``."""

    def create_group_mapping(
        self,
        group: str,
        permission: str,
        resource_type: str = "experiment",
        resource_pattern: str = "*",
        workspace: str = "default",
    ) -> dict:
        body = {
            "group": group,
            "permission": permission,
            "resource_type": resource_type,
            "resource_pattern": resource_pattern,
            "workspace": workspace,
        }
        return self.call(f"{API}/group-mappings", "POST", json=body)["group_mapping"]

    def list_group_mappings(self) -> list[dict]:
        return self.call(f"{API}/group-mappings", "GET")["group_mappings"]

    def delete_group_mapping(self, mapping_id: str) -> dict:
        path = f"{API}/group-mappings/{quote(mapping_id, safe='')}"
        return self.call(path, "DELETE")["group_mapping"]

    def lookup_user(self, username: str) -> dict:
        """DN, direct and nested groups, admin flag, applying mappings, resulting grants."""
        return self.call(f"{API}/users/{quote(username, safe='')}", "GET")["user"]

    def flush_cache(self) -> dict:
        """Empty the caches of the worker that answers (each worker has its own)."""
        return self.call(f"{API}/cache/flush", "POST")

    def status(self) -> dict:
        return self.call(f"{API}/status", "GET")
