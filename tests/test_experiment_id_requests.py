"""A DENY on experiment 2 holds however a request spells the id.

MLflow's tracking store reads ``"02"``, ``"+2"`` and ``" 2"`` as experiment 2. Real
slapd, a real ``mlflow server --app-name ldap-auth`` with ``default_permission = EDIT``
and a DENY mapping on experiment 2 for alice's group: on every route family MLflow checks
by an experiment id in the request, each spelling is refused as ``"2"`` is (MLflow 3.18:
MLflow's own 403; MLflow 3.17: the plugin's 400 ahead of MLflow's check), and the
request changes nothing.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from servers import CAROL, DATA_SCIENCE_DN, PASSWORDS, flush_caches, start_server

API = "/api/2.0/mlflow/ldap-auth"
ALICE = ("alice", PASSWORDS["alice"])  # a member of data-science
SPELLINGS = ["02", "+2", " 2", "2.0"]


def create_experiment(server, name: str) -> str:
    response = requests.post(
        server.url + "/api/2.0/mlflow/experiments/create",
        json={"name": name},
        auth=CAROL,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["experiment_id"]


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory, slapd, name="reqids", mlflow={"default_permission": "EDIT"}
    ) as running:
        assert [create_experiment(running, name) for name in ("one", "two")] == ["1", "2"]
        run = requests.post(
            running.url + "/api/2.0/mlflow/runs/create",
            json={"experiment_id": "2"},
            auth=CAROL,
            timeout=30,
        )
        assert run.status_code == 200, run.text
        trace = start_trace(running, "2", auth=CAROL)
        assert trace.status_code == 200, trace.text
        run_id = run.json()["run"]["info"]["run_id"]
        uploaded = requests.put(
            f"{running.url}/api/2.0/mlflow-artifacts/artifacts/2/{run_id}/artifacts/notes.txt",
            data=b"experiment 2 only",
            auth=CAROL,
            timeout=30,
        )
        assert uploaded.status_code == 200, uploaded.text
        running.secrets = (  # what only a reader of experiment 2 sees
            run_id,
            trace.json()["trace"]["trace_info"]["trace_id"],
        )
        denied = requests.post(
            running.url + API + "/group-mappings",
            json={
                "group": DATA_SCIENCE_DN,
                "resource_type": "experiment",
                "resource_pattern": "2",
                "permission": "DENY",
            },
            auth=CAROL,
            timeout=30,
        )
        assert denied.status_code in (200, 201), denied.text
        flush_caches(running)
        yield running


def get_experiment(server, experiment_id):
    return requests.get(
        server.url + "/api/2.0/mlflow/experiments/get",
        params={"experiment_id": experiment_id},
        auth=ALICE,
        timeout=30,
    )


def create_run(server, experiment_id):
    return requests.post(
        server.url + "/api/2.0/mlflow/runs/create",
        json={"experiment_id": experiment_id},
        auth=ALICE,
        timeout=30,
    )


def search_runs(server, experiment_id):
    return requests.post(
        server.url + "/api/2.0/mlflow/runs/search",
        json={"experiment_ids": ["1", experiment_id]},
        auth=ALICE,
        timeout=30,
    )


def create_logged_model(server, experiment_id):
    return requests.post(
        server.url + "/api/2.0/mlflow/logged-models",
        json={"experiment_id": experiment_id, "name": "m"},
        auth=ALICE,
        timeout=30,
    )


def list_scorers(server, experiment_id):
    return requests.get(
        server.url + "/api/3.0/mlflow/scorers/list",
        params={"experiment_id": experiment_id},
        auth=ALICE,
        timeout=30,
    )


def start_trace(server, experiment_id, auth=ALICE):
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    trace_info = {
        "trace_id": f"tr-{uuid.uuid4().hex}",
        "trace_location": location,
        "request_time": "2026-01-01T00:00:00Z",
        "state": "OK",
    }
    return requests.post(
        server.url + "/api/3.0/mlflow/traces",
        json={"trace": {"trace_info": trace_info}},
        auth=auth,
        timeout=30,
    )


def search_traces(server, experiment_id):
    location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
    return requests.post(
        server.url + "/api/3.0/mlflow/traces/search",
        json={"locations": [location]},
        auth=ALICE,
        timeout=30,
    )


def otlp_export() -> bytes:
    """One span, as an OpenTelemetry exporter sends it."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = uuid.uuid4().bytes
    span.span_id = uuid.uuid4().bytes[:8]
    span.name = "call"
    span.start_time_unix_nano = 1_700_000_000_000_000_000
    span.end_time_unix_nano = 1_700_000_001_000_000_000
    return request.SerializeToString()


def export_otlp_spans(server, experiment_id):
    return requests.post(
        server.url + "/v1/traces",
        data=otlp_export(),
        headers={"Content-Type": "application/x-protobuf", "X-Mlflow-Experiment-Id": experiment_id},
        auth=ALICE,
        timeout=30,
    )


def list_artifacts(server, experiment_id):
    return requests.get(
        server.url + "/api/2.0/mlflow-artifacts/artifacts",
        params={"path": f"{experiment_id}/"},
        auth=ALICE,
        timeout=30,
    )


def graphql_experiment(server, experiment_id):
    query = "query q($id: String!) { mlflowGetExperiment(input: {experimentId: $id}) "
    query += "{ experiment { name } } }"
    return requests.post(
        server.url + "/graphql",
        json={"query": query, "variables": {"id": experiment_id}},
        auth=ALICE,
        timeout=30,
    )


def graphql_experiment_inline(server, experiment_id):
    query = "{ mlflowGetExperiment(input: {experimentId: %s}) { experiment { name } } }"
    return requests.post(
        server.url + "/graphql",
        json={"query": query % _graphql_string(experiment_id)},
        auth=ALICE,
        timeout=30,
    )


def ask_own_permission(server, experiment_id):
    """MLflow's per-user permission answer, which alice may ask about herself."""
    return requests.get(
        server.url + "/api/3.0/mlflow/users/permissions/get",
        params={"username": "alice", "resource_type": "experiment", "resource_id": experiment_id},
        auth=ALICE,
        timeout=30,
    )


def _graphql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


ROUTES = [
    get_experiment,
    create_run,
    search_runs,
    create_logged_model,
    list_scorers,
    start_trace,
    search_traces,
    export_otlp_spans,
    list_artifacts,
    graphql_experiment,
    graphql_experiment_inline,
    ask_own_permission,
]


#: Routes that answer a refused experiment by leaving it out of the result.
FILTERING = {"search_runs", "search_traces", "list_artifacts"}


def refused(server, route, response: requests.Response) -> bool:
    """Refused (MLflow's 403, a 400 or 404 for an id it cannot use, the plugin's 400) or,
    where a refused experiment is left out, an answer without anything of experiment 2."""
    if response.status_code in (400, 403, 404):
        return True
    if response.status_code != 200:
        return False
    if route is ask_own_permission:
        return response.json()["allowed"] is False
    if route.__name__.startswith("graphql"):
        return response.json()["data"]["mlflowGetExperiment"] is None
    if route.__name__ in FILTERING:
        return not any(secret in response.text for secret in server.secrets)
    return False


def ids_canonicalised() -> bool:
    """Does this MLflow read request ids canonically itself (3.18; the guard is off)?"""
    from mlflow_ldap_auth.mlflow_compat import rules

    return rules.request_ids_canonicalised()


def runs_in_experiment_2(server) -> int:
    response = requests.post(
        server.url + "/api/2.0/mlflow/runs/search",
        json={"experiment_ids": ["2"]},
        auth=CAROL,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return len(response.json().get("runs", []))


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.__name__)
def test_the_deny_on_experiment_2_refuses_the_canonical_id(server, route):
    """The baseline: each route is one MLflow checks, and ``"2"`` is refused there."""
    assert refused(server, route, route(server, "2"))


@pytest.mark.parametrize(
    ("route", "spelling"),
    [
        pytest.param(route, spelling, id=f"{route.__name__}-{spelling!r}")
        for route in ROUTES
        for spelling in SPELLINGS
        # A header value cannot start with a space (HTTP strips it; requests refuses to
        # send it): OTLP's header can only carry " 2" as "2", the baseline's case.
        if not (route is export_otlp_spans and spelling != spelling.strip())
    ],
)
def test_no_spelling_of_experiment_2_gets_past_the_deny(server, route, spelling):
    if route is ask_own_permission and spelling == "2.0" and ids_canonicalised():
        # MLflow 3.18 answers this question for "2.0" as for an id no experiment has
        # (allowed): harmless only because every route that reads experiments refuses it.
        assert refused(server, get_experiment, get_experiment(server, spelling))
        assert refused(server, create_run, create_run(server, spelling))
        return
    before = runs_in_experiment_2(server)
    response = route(server, spelling)
    assert refused(server, route, response), (response.status_code, response.text[:300])
    assert runs_in_experiment_2(server) == before


@pytest.mark.parametrize("route", [get_experiment, create_run, list_artifacts])
def test_the_canonical_id_of_another_experiment_is_served(server, route):
    """The guard refuses spellings, not experiments: alice uses experiment 1 (EDIT)."""
    response = route(server, "1")
    assert response.status_code == 200, response.text


def test_a_name_where_an_id_belongs_is_answered_by_mlflow(server):
    """Text that names no experiment is MLflow's to answer, as without the plugin."""
    response = get_experiment(server, "two")
    assert response.status_code in (400, 404), response.text
    assert "as MLflow writes experiment ids" not in response.text


@pytest.mark.parametrize("spelling", SPELLINGS, ids=repr)
def test_a_misspelled_id_is_refused_before_mlflow_reads_it_where_mlflow_would_not(server, spelling):
    """MLflow 3.17 reads request ids as spelled: the plugin answers MLflow's 400 for each
    spelling, Flask and FastAPI routes alike. 3.18 reads them canonically: MLflow's own
    answer (its 403, or its 400 for an id that is no integer), the plugin adds nothing."""
    for route in (get_experiment, search_traces, list_artifacts, graphql_experiment_inline):
        response = route(server, spelling)
        plugin_refusal = response.status_code == 400 and (
            "as MLflow writes experiment ids" in response.json().get("message", "")
        )
        assert plugin_refusal is not ids_canonicalised(), (route, response.text)
        if plugin_refusal:
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    if spelling == spelling.strip():
        response = export_otlp_spans(server, spelling)
        assert response.status_code in (400, 403)
        assert ("as MLflow writes experiment ids" in response.text) is not (ids_canonicalised())
