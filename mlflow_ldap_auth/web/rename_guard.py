"""A model or prompt that group mappings name is not renamed: the rename is refused.

A mapping on a registered model or a prompt is a grant keyed by the name, and MLflow
moves only per-user grants along with a rename. Left alone, MLflow 3.17 renames and
leaves the group's grant on the old name (a model created under that name later gets
it), and MLflow 3.18 refuses with a message that names the internal role
``ldap-group:<uuid>``. Making the mappings follow the new name would need a write to
the auth database in the same transaction as the registry's rename, and the registry
may be another database: a crash or a failure between the two would leave exactly the
grant this exists to prevent. So the plugin refuses instead, on both releases, before
MLflow's own checks:

* on every route MLflow renames a model or prompt on (``mlflow_compat.rename_routes``),
  when a grant mapping in the request's workspace names, for ``registered_model`` or
  ``prompt``, the old name (as asked for, or as the registry keeps it: a
  case-insensitive registry renames ``Churn`` when asked for ``churn``) or the new name
  (that grant would start applying to the renamed model);
* the answer is MLflow's 400 (``INVALID_PARAMETER_VALUE``); for an MLflow admin it names
  each mapping (group DN and mapping id) and says what to do; anyone else who may change
  the model learns only that group mappings hold the name, as MLflow 3.18 tells only
  those who can manage roles which grants they are. A caller who may not change it, or
  is not authenticated, gets MLflow's own 403 or 401: the guard then says nothing.

Each refusal is one ``rename_refused`` audit record (result ``refused``, reason
``mapped_name``): who asked, both names and the ids of the mappings that hold them.

Renames no mapping names go on to MLflow unchanged (its per-user grant moves and, on
3.18, its own checks). Other requests cost one set lookup on the path. A rename is
authenticated first (the answer is remembered for MLflow's hook, which would ask the
same), so a caller without credentials costs no database read; then it costs a
registry read of the old name and one read of the mappings, and whether the caller is
an admin is looked up only when a mapping holds a name.
"""

from __future__ import annotations

from flask import Flask, Response, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.access import Mapping
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.mlflow_compat import rename_routes, rules
from mlflow_ldap_auth.mlflow_compat.rename_routes import Rename
from mlflow_ldap_auth.plugin import Plugin
from mlflow_ldap_auth.web.authn import authenticate_request


def names_touched(rename: Rename, stored: str | None) -> set[str]:
    """The names whose grants a rename would move or leave: both names asked for and
    the registry's spelling of the old one."""
    return {rename.name, rename.new_name} | ({stored} if stored else set())


def refusal_message(rename: Rename, mappings: list[Mapping], for_admin: bool) -> str:
    """What the refused caller reads; it never names MLflow roles."""
    held = " and ".join(sorted({repr(m.resource_pattern) for m in mappings}))
    head = f"Cannot rename {rename.name!r} to {rename.new_name!r}: group mappings hold {held}"
    why = (
        "Renaming would leave their grants on the old name, for whatever is created "
        "under it next, or give grants on the new name to the renamed model or prompt."
    )
    if not for_admin:
        return f"{head}. {why} Ask an MLflow admin to edit or delete those mappings first."
    listed = "; ".join(
        f"group {m.group!r} (mapping {m.id}: {m.permission} on {m.resource_type} "
        f"{m.resource_pattern!r})"
        for m in mappings
    )
    return (
        f"{head}: {listed}. {why} Edit or delete those mappings (ldap-admin page or "
        "/api/2.0/mlflow/ldap-auth/group-mappings), rename, then map the groups to the "
        "new name."
    )


def install(app: Flask, plugin: Plugin) -> None:
    routes = rename_routes.rename_routes()

    @catch_mlflow_exception
    def refuse_renames_of_mapped_names():
        if (request.path, request.method) not in routes:
            return None
        caller = authenticate_request()  # remembered for MLflow's hook, which asks next
        if isinstance(caller, Response):
            return None  # MLflow answers 401
        rename = rename_routes.requested_rename()
        if rename is None:
            return None
        names = names_touched(rename, rename_routes.stored_name(rename.name))
        mappings = plugin.groups.mappings_on_names(
            rules.request_workspace(), rename_routes.RENAMED_RESOURCE_TYPES, names
        )
        if not mappings:
            return None
        is_admin = plugin.store.get_user(caller.username).is_admin
        if not is_admin and not rename_routes.caller_may_rename():
            return None  # MLflow answers 403
        audit(
            reasons.RENAME_REFUSED,
            user=caller.username,
            source=request.remote_addr,
            result="refused",
            reason=reasons.MAPPED_NAME,
            name=rename.name,
            new_name=rename.new_name,
            mappings=[m.id for m in mappings],
        )
        raise MlflowException(
            refusal_message(rename, mappings, for_admin=is_admin), INVALID_PARAMETER_VALUE
        )

    app.before_request(refuse_renames_of_mapped_names)
