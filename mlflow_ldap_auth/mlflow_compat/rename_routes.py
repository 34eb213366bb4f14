"""Where MLflow renames a registered model or a prompt, and what a rename asks for.

A prompt is a registered model to MLflow's registry: one RPC, ``RenameRegisteredModel``,
renames both, and MLflow moves grants of either type along (``registered_model`` and
``prompt`` grants are keyed by the name). Its routes are read from the registry
service's own description, as MLflow's router builds them (``/api/2.0/...`` and the
``/ajax-api/`` twin, each with its HTTP method, ``--static-prefix`` in front), so a
release that adds a route or a method for the RPC is covered without a change here.
The request is parsed with MLflow's own parser: a JSON body, or the query string of a
GET, as the handler will read it.
"""

from __future__ import annotations

from typing import NamedTuple

from mlflow.exceptions import MlflowException
from mlflow.protos.model_registry_pb2 import ModelRegistryService, RenameRegisteredModel
from mlflow.server import handlers

#: The resource types whose grants name a registry entry (MLflow's type names).
RENAMED_RESOURCE_TYPES = ("registered_model", "prompt")


class Rename(NamedTuple):
    name: str
    new_name: str


def rename_routes() -> frozenset[tuple[str, str]]:
    """(path, method) of every route on which MLflow renames a model or prompt."""
    # Asked for the request class in place of each handler, to tell the RPC's routes apart.
    endpoints = handlers.get_service_endpoints(ModelRegistryService, lambda message: message)
    return frozenset(
        (path, method)
        for path, request_class, methods in endpoints
        if request_class is RenameRegisteredModel
        for method in methods
    )


def requested_rename() -> Rename | None:
    """The current request's ``name`` and ``new_name``; None when MLflow could not read
    them (its own handler then answers)."""
    try:
        message = handlers._get_request_message(RenameRegisteredModel())
    except MlflowException:
        return None
    if not message.name or not message.new_name:
        return None
    return Rename(message.name, message.new_name)


def stored_name(name: str) -> str | None:
    """The spelling the registry keeps for the model or prompt it finds under ``name``
    (a case-insensitive registry finds ``Churn`` under ``churn``); None if it finds none."""
    try:
        return handlers._get_model_registry_store().get_registered_model(name).name
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def caller_may_rename() -> bool:
    """MLflow's own answer to "may the caller change this model or prompt?" (the
    permission its rename validator checks first, on every supported release)."""
    from mlflow.server import auth  # on call: the bridge configures it first

    return bool(auth._validate_can_update_registered_model_or_prompt())
