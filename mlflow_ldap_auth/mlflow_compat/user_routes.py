"""MLflow's user-management routes the plugin guards, by MLflow's own names.

``web.local_accounts`` and ``web.provision_on_demand`` act on these routes. The names
live in ``mlflow.server.auth.routes``, part of MLflow's auth module, which reads its
configuration when it is first imported (``bridge``): the table is built on first call,
which is after ``bridge.import_mlflow_auth``, never when this module is imported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class UserRoutes:
    #: (path, method) of MLflow's sign-up and user creation.
    creation: frozenset[tuple[str, str]]
    #: Paths of the password updates (PATCH).
    password: frozenset[str]
    #: Paths of the admin-flag updates (PATCH).
    admin_flag: frozenset[str]
    #: Paths of the user deletions (DELETE).
    delete: frozenset[str]
    #: (path, method) of the APIs that name a user MLflow must already have a row for.
    naming_a_user: frozenset[tuple[str, str]]


@functools.cache
def user_routes() -> UserRoutes:
    from mlflow.server.auth import routes

    return UserRoutes(
        creation=frozenset(
            {
                (routes.SIGNUP, "GET"),
                (routes.CREATE_USER_UI, "POST"),
                (routes.CREATE_USER, "POST"),
                (routes.AJAX_CREATE_USER, "POST"),
            }
        ),
        password=frozenset({routes.UPDATE_USER_PASSWORD, routes.AJAX_UPDATE_USER_PASSWORD}),
        admin_flag=frozenset({routes.UPDATE_USER_ADMIN, routes.AJAX_UPDATE_USER_ADMIN}),
        delete=frozenset({routes.DELETE_USER, routes.AJAX_DELETE_USER}),
        naming_a_user=frozenset(
            (path, method)
            for rest, ajax, method in (
                (routes.GET_USER, routes.AJAX_GET_USER, "GET"),
                (routes.LIST_USER_PERMISSIONS, routes.AJAX_LIST_USER_PERMISSIONS, "GET"),
                (routes.GRANT_USER_PERMISSION, routes.AJAX_GRANT_USER_PERMISSION, "POST"),
                (routes.GET_USER_PERMISSION, routes.AJAX_GET_USER_PERMISSION, "GET"),
                (routes.ASSIGN_ROLE, routes.AJAX_ASSIGN_ROLE, "POST"),
                (routes.LIST_USER_ROLES, routes.AJAX_LIST_USER_ROLES, "GET"),
            )
            for path in (rest, ajax)
        ),
    )
