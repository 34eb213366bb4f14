"""Where a request names an experiment id: every place MLflow 3.17's checks read one.

Pure readers of arguments, path parameters, JSON bodies (top level, a trace's location,
search locations), GraphQL (variables and query text) and artifact proxy paths; each
yields the values as the request spells them. Which of them are misspelled, and the
refusal, are ``web.experiment_id_guard``'s; the cut is between finding the ids and
deciding about them, so a new MLflow route is one more reader here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import unquote

from mlflow_ldap_auth.mlflow_compat import rules
from mlflow_ldap_auth.web.authn import route_path

#: Request arguments MLflow's checks read an experiment id from.
ARG_KEYS = ("experiment_id", "experiment_ids")
#: The same fields in a JSON body: MLflow's names and the aliases its protobuf parser takes.
BODY_KEYS = ("experiment_id", "experiment_ids", "experimentId", "experimentIds")
#: Where a JSON body nests an experiment id (each step: the spellings of one key, or
#: ``EACH`` for every element of a list): a StartTraceV3 trace, SearchTracesV3 locations.
EACH = ()
NESTED_IN_BODY: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        ("trace",),
        ("trace_info", "traceInfo"),
        ("trace_location", "traceLocation"),
        ("mlflow_experiment", "mlflowExperiment"),
    ),
    (("locations",), EACH, ("mlflow_experiment", "mlflowExperiment")),
)
GRAPHQL_KEYS = frozenset(("experimentId", "experimentIds"))
ARTIFACT_ROUTES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
#: What follows an artifact route prefix before the artifact path.
ARTIFACT_ACTIONS = ("artifacts/", "mpu/create/", "mpu/complete/", "mpu/abort/")


def _listed(value: object) -> Iterable[object]:
    return value if isinstance(value, list) else (value,)


def ids_in_resource_key(fields) -> Iterator[object]:
    """The experiment a ``resource_type`` / ``resource_id`` pair names (MLflow's per-user
    permission routes): an experiment id, or a scorer key's ``<experiment_id>/<name>``."""
    resource_type, resource_id = fields.get("resource_type"), fields.get("resource_id")
    if resource_type == rules.EXPERIMENT:
        yield resource_id
    elif resource_type == rules.SCORER and isinstance(resource_id, str):
        yield resource_id.partition("/")[0]


def ids_in_body(body: object) -> Iterator[object]:
    """Every experiment id a JSON body names where MLflow's checks read one."""
    if not isinstance(body, dict):
        return
    if "resource_id" in body:
        yield from ids_in_resource_key(body)
    for key in BODY_KEYS:
        if key in body:
            yield from _listed(body[key])
    for path in NESTED_IN_BODY:
        nodes: list[object] = [body]
        for step in path:
            if step is EACH:
                nodes = [item for node in nodes if isinstance(node, list) for item in node]
            else:
                nodes = [n[k] for n in nodes if isinstance(n, dict) for k in step if k in n]
        for node in nodes:
            if isinstance(node, dict):
                for key in BODY_KEYS:
                    if key in node:
                        yield from _listed(node[key])


def _ids_in_variables(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in GRAPHQL_KEYS:
                yield from _listed(item)
            else:
                yield from _ids_in_variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids_in_variables(item)


def ids_in_graphql(body: object) -> Iterator[object]:
    """``experimentId`` / ``experimentIds`` of a GraphQL request: in the query text, as
    literals or variables, and in input objects passed as variables."""
    if not isinstance(body, dict):
        return
    variables = body.get("variables")
    yield from _ids_in_variables(variables)
    query = body.get("query")
    if not isinstance(query, str):
        return
    # graphql-core only for a GraphQL body: most requests never parse one.
    from graphql import GraphQLError, parse
    from graphql.language import ListValueNode, StringValueNode, VariableNode, Visitor, visit

    given = variables if isinstance(variables, dict) else {}
    found: list[object] = []

    def take(value_node) -> None:
        if isinstance(value_node, ListValueNode):
            for item in value_node.values:
                take(item)
        elif isinstance(value_node, StringValueNode):
            found.append(value_node.value)
        elif isinstance(value_node, VariableNode):
            found.extend(_listed(given.get(value_node.name.value)))

    class ExperimentIds(Visitor):
        def enter_object_field(self, node, *_):
            if node.name.value in GRAPHQL_KEYS:
                take(node.value)

        def enter_argument(self, node, *_):
            if node.name.value in GRAPHQL_KEYS:
                take(node.value)

    try:
        visit(parse(query), ExperimentIds())
    except GraphQLError:
        return  # MLflow answers the malformed query itself
    yield from found


def artifact_experiment_id(artifact_path: str) -> str:
    """The experiment an artifact proxy path starts with (``[workspaces/<name>/]<id>/...``),
    decoded once more as MLflow's path check does."""
    parts = unquote(artifact_path).strip("/").split("/")
    if parts[0] == "workspaces" and len(parts) > 2:
        parts = parts[2:]
    return parts[0]


def artifact_path_of(path: str) -> str | None:
    """The artifact path in an artifact proxy route's own path; None for other routes."""
    route = route_path(path)
    for prefix in ARTIFACT_ROUTES:
        if route.startswith(prefix):
            rest = route[len(prefix) :]
            for action in ARTIFACT_ACTIONS:
                if rest.startswith(action):
                    return rest[len(action) :]
            return ""
    return None
