"""Python client: ``mlflow.server.get_app_client("ldap-auth", tracking_uri=...)``.

Everything MLflow's ``AuthServiceClient`` offers (users, roles, per-user grants) plus
the group mappings and the plugin's status, authenticated like any MLflow client
(``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``). Mappings come back as
dicts with the fields ``id``, ``group`` (current DN), ``group_uuid``, ``group_name``,
``resource_type``, ``resource_pattern``, ``permission``, ``workspace``.

Access tokens (docs/tokens.md): ``create_token`` needs the directory password (a client
authenticated with a token cannot create one) and returns ``{"token": {...}, "secret"}``
(the secret is shown this once); ``list_tokens`` / ``revoke_token`` work with either.
``list_tokens`` follows the pages of the answer and returns every token;
``list_tokens_page`` returns one page and its ``next_page_token``.

Sign-in sessions (docs/tokens.md#sessions): ``list_sessions`` (own; an admin names a
``user`` or asks for ``all``) follows the pages and returns every live session as
``{"id", "user", "created", "last_seen", "source"}`` (``id`` is the session's handle,
never its secret); ``end_session(id)`` ends one, ``end_sessions(user)`` every session
of one user (one's own, or anyone's for an admin) and returns those it ended.
"""

from __future__ import annotations

from urllib.parse import quote

from mlflow_ldap_auth.mlflow_compat.client_base import MlflowAuthClient
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

API = "/api/2.0/mlflow/ldap-auth"


class LdapAuthServiceClient(MlflowAuthClient):
    """MLflow's auth client for a server started with ``--app-name ldap-auth``."""

    def create_group_mapping(
        self,
        group: str,
        permission: str,
        resource_type: str = "experiment",
        resource_pattern: str = "*",
        workspace: str = DEFAULT_WORKSPACE,
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

    def who_has_access(
        self, resource_type: str, resource: str, workspace: str | None = None
    ) -> dict:
        """Every route to one resource and each person's permission (an experiment also
        by name, looked for in ``workspace``): ``{"resource", "entries", "groups",
        "default_permission", "everyone_else"}``."""
        params = {"resource_type": resource_type, "resource": resource}
        if workspace is not None:
            params["workspace"] = workspace
        return self.call(f"{API}/access", "GET", params=params)

    def flush_cache(self) -> dict:
        """Empty the caches of the worker that answers (each worker has its own)."""
        return self.call(f"{API}/cache/flush", "POST")

    def status(self) -> dict:
        return self.call(f"{API}/status", "GET")

    def activity(self, **filters) -> dict:
        """Recent login decisions and changes, newest first: ``{"records", "next_page_token"}``.

        Filters: ``user``, ``result``, ``reason``, ``event``, ``since``, ``until`` (ISO
        8601), ``page_token`` (the previous answer's ``next_page_token``), ``max_results``.
        """
        params = {name: value for name, value in filters.items() if value is not None}
        return self.call(f"{API}/activity", "GET", params=params)

    def create_token(self, name: str, expires_in_days: int) -> dict:
        """``{"token": {"id", "name", "user", "created", "expires", ...}, "secret": ...}``."""
        body = {"name": name, "expires_in_days": expires_in_days}
        return self.call(f"{API}/tokens", "POST", json=body)

    def list_tokens(self, user: str | None = None, all: bool = False) -> list[dict]:
        """Own tokens, newest first; an admin may name a ``user`` or ask for ``all``."""
        return self._every_page(self.list_tokens_page, "tokens", user, all)

    @staticmethod
    def _every_page(page_of, key: str, user: str | None, all: bool) -> list[dict]:
        """Every item of a paged list, ``page_of`` one of its ``*_page`` methods."""
        items, page_token = [], None
        while True:
            page = page_of(user=user, all=all, page_token=page_token)
            items += page[key]
            page_token = page.get("next_page_token")
            if not page_token:
                return items

    def list_tokens_page(
        self,
        user: str | None = None,
        all: bool = False,
        page_token: str | None = None,
        max_results: int | None = None,
    ) -> dict:
        """One page: ``{"tokens": [...], "next_page_token"}`` (None on the last page)."""
        params = _list_params(user, all, page_token, max_results)
        return self.call(f"{API}/tokens", "GET", params=params)

    def revoke_token(self, token_id: str) -> dict:
        return self.call(f"{API}/tokens/{quote(token_id, safe='')}", "DELETE")["token"]

    def list_sessions(self, user: str | None = None, all: bool = False) -> list[dict]:
        """Live sessions, newest first: own; an admin may name a ``user`` or ask for ``all``."""
        return self._every_page(self.list_sessions_page, "sessions", user, all)

    def list_sessions_page(
        self,
        user: str | None = None,
        all: bool = False,
        page_token: str | None = None,
        max_results: int | None = None,
    ) -> dict:
        """One page: ``{"sessions": [...], "next_page_token"}`` (None on the last page)."""
        params = _list_params(user, all, page_token, max_results)
        return self.call(f"{API}/sessions", "GET", params=params)

    def end_session(self, session_id: str) -> dict:
        """End one session (its owner's, or an admin's): it is refused at once everywhere."""
        return self.call(f"{API}/sessions/{quote(session_id, safe='')}", "DELETE")["session"]

    def end_sessions(self, user: str) -> list[dict]:
        """End every session of ``user``; the sessions this call ended."""
        return self.call(f"{API}/sessions", "DELETE", params={"user": user})["sessions"]


def _list_params(user, all: bool, page_token, max_results) -> dict:
    """The query of one page of a token or session list (nothing for what is unset)."""
    params = {"user": user, "page_token": page_token, "max_results": max_results}
    params = {name: value for name, value in params.items() if value is not None}
    if all:
        params["all"] = "true"
    return params
