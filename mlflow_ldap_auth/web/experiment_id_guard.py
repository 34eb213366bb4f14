"""A request that names an experiment by a spelling grants are not matched on is refused.

MLflow's SQL tracking store reads an experiment id with ``int()``, so ``"02"``, ``"+2"``
and ``" 2"`` all name experiment 2. MLflow 3.17's permission check compares the id as
spelled: a grant or a DENY on experiment ``2`` (the
plugin stores every mapping in that form, ``rules.canonical_resource_pattern``) does not
apply to a request for ``"02"``, which then gets ``default_permission`` on experiment 2.
MLflow 3.18 reads request ids canonically itself (``rules.request_ids_canonicalised``);
there nothing is installed.

On 3.17 the guard answers MLflow's 400 (``INVALID_PARAMETER_VALUE``) before MLflow's
checks when an experiment id in the request is misspelled
(``rules.misspelled_experiment_id``), in every place 3.17's checks read one from:

* query arguments and path parameters ``experiment_id`` / ``experiment_ids``;
* ``resource_id`` with ``resource_type`` ``experiment`` or ``scorer``
  (``<experiment_id>/<name>``), in arguments or a JSON body: MLflow's per-user
  permission routes (grant, revoke, get), which check and answer for the key as spelled;
* a JSON body: the top-level ``experiment_id`` / ``experiment_ids`` (and the protobuf
  aliases ``experimentId`` / ``experimentIds`` MLflow's parser also takes), a trace's
  location (StartTraceV3) and search locations (SearchTracesV3);
* GraphQL: ``experimentId`` / ``experimentIds`` in the variables and in the query text;
* the experiment an artifact proxy path starts with (``<experiment_id>/<run_id>/...``,
  also as the list route's ``path`` argument), Flask or FastAPI. ``02/`` there is
  another directory than experiment 2's, so no bypass; refused all the same, so that no
  route answers a second spelling of an id;
* the ``X-Mlflow-Experiment-Id`` header of OTLP trace ingestion (``/v1/traces``, FastAPI).

Refusing rather than rewriting: the refusal is the same whatever the caller may do, so
it is decided before authentication and tells nothing about the experiment; MLflow's
own clients always send the canonical id, so only hand-written requests meet it. Text
that names no experiment (``"abc"``, ``"-2"``) is left to MLflow, which answers as it
does without the plugin: no store reads it as an experiment a grant names.

Cost: on the warm path three look-ups in the query arguments and one in the path
parameters. A JSON body (what MLflow's readers parse) is read through Flask's cached
parse, which MLflow's readers then reuse; an artifact route's body (a file) never is.
A GraphQL query is parsed once more (graphql-core; MLflow parses it too).

Where a request names an experiment id is read by ``web.experiment_id_fields``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qs

from flask import Flask, Request, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.server.handlers import catch_mlflow_exception
from starlette.responses import Response

from mlflow_ldap_auth.mlflow_compat import rules
from mlflow_ldap_auth.web.authn import route_path
from mlflow_ldap_auth.web.experiment_id_fields import (
    ARG_KEYS,
    artifact_experiment_id,
    artifact_path_of,
    ids_in_body,
    ids_in_graphql,
    ids_in_resource_key,
)

__all__ = [
    "ARG_KEYS",
    "ExperimentIdGuard",
    "ahead_of",
    "artifact_experiment_id",
    "artifact_path_of",
    "first_misspelled",
    "ids_in_asgi_scope",
    "ids_in_body",
    "ids_in_flask_request",
    "ids_in_graphql",
    "ids_in_resource_key",
    "install",
    "refusal",
]

OTLP_TRACES = "/v1/traces"
OTLP_EXPERIMENT_HEADER = b"x-mlflow-experiment-id"


def first_misspelled(values: Iterable[object]) -> object | None:
    return next((v for v in values if rules.misspelled_experiment_id(v)), None)


def refusal(value: object) -> MlflowException:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    return MlflowException(
        f"Experiment id {shown} is not written as MLflow writes experiment ids: "
        "use the id's digits without sign, spaces or leading zeros (e.g. '2').",
        INVALID_PARAMETER_VALUE,
    )


# -- Flask: arguments, path parameters, JSON bodies -----------------------------------
def _request_body(current: Request) -> object:
    """The JSON body as MLflow's readers see it; None where MLflow reads none."""
    content_type = current.content_type
    if not current.is_json and (content_type is not None or not current.content_length):
        return None
    # A body without a content type is parsed by MLflow's message reader (force); such a
    # parse is not cached, so MLflow's other readers still see no body, as without us.
    body = current.get_json(force=True, silent=True, cache=current.is_json)
    if isinstance(body, str):  # older clients double-encode; MLflow decodes again
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body


def ids_in_flask_request() -> Iterator[object]:
    # Each attribute read through Flask's request proxy is a few calls, and this runs on
    # every request: each is read once.
    current: Request = request
    args = current.args
    for key in ARG_KEYS:
        if key in args:
            yield from args.getlist(key)
    if "resource_id" in args:
        yield from ids_in_resource_key(args)
    view_args = current.view_args or {}
    if "experiment_id" in view_args:
        yield view_args["experiment_id"]
    path = current.path
    artifact_path = artifact_path_of(path)
    if artifact_path is not None:
        if artifact_path := view_args.get("artifact_path") or artifact_path:
            yield artifact_experiment_id(artifact_path)
        for listed in args.getlist("path"):
            yield artifact_experiment_id(listed)
        return  # an artifact's body is a file
    if current.method == "GET" and not current.content_length:
        return
    body = _request_body(current)
    if route_path(path).endswith("/graphql"):
        yield from ids_in_graphql(body)
    else:
        yield from ids_in_body(body)


def install(app: Flask) -> None:
    """Refuse misspelled experiment ids ahead of MLflow's checks, where MLflow reads them
    as spelled."""
    if rules.request_ids_canonicalised():
        return

    @catch_mlflow_exception
    def refuse_misspelled_experiment_ids():
        misspelled = first_misspelled(ids_in_flask_request())
        if misspelled is not None:
            raise refusal(misspelled)

    app.before_request(refuse_misspelled_experiment_ids)


# -- ASGI: MLflow's FastAPI routes (OTLP traces, artifacts) ---------------------------
def ids_in_asgi_scope(scope: dict) -> Iterator[object]:
    path = scope.get("path", "")
    if route_path(path).startswith(OTLP_TRACES):
        for name, value in scope.get("headers") or ():
            if name.lower() == OTLP_EXPERIMENT_HEADER:
                yield value.decode("latin-1")
        return
    artifact_path = artifact_path_of(path)
    if artifact_path is None:
        return
    if artifact_path:
        yield artifact_experiment_id(artifact_path)
    query = scope.get("query_string", b"").decode("latin-1")
    for listed in parse_qs(query).get("path", ()):
        yield artifact_experiment_id(listed)


class ExperimentIdGuard:
    """ASGI: refuses a misspelled experiment id before the next middleware sees it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            misspelled = first_misspelled(ids_in_asgi_scope(scope))
            if misspelled is not None:
                error = refusal(misspelled)
                answer = Response(
                    error.serialize_as_json(),
                    status_code=error.get_http_status_code(),
                    media_type="application/json",
                )
                return await answer(scope, receive, send)
        return await self.app(scope, receive, send)


def ahead_of(middleware: Callable) -> Callable:
    """``middleware`` (an ASGI middleware factory) behind the guard, where MLflow reads
    request ids as spelled; ``middleware`` itself otherwise."""
    if rules.request_ids_canonicalised():
        return middleware

    def guarded(app, **options):
        return ExperimentIdGuard(middleware(app, **options))

    return guarded
