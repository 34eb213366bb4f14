"""Which request ids the experiment id guard refuses, and where it finds them
(``rules.misspelled_experiment_id``, ``web.experiment_id_guard``)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mlflow_ldap_auth.mlflow_compat import rules
from mlflow_ldap_auth.web import experiment_id_guard as guard

MISSPELLED = ["02", "+2", " 2", "2 ", "\t2\n", "002", "1_0", "\uff12", "-0", "+0", "00"]
MISSPELLED += ["2.0", "2e0"]  # MLflow refuses these itself; no reader takes them as 2
MISSPELLED_VALUES = [2, 2.0, True, False]
LEFT_TO_MLFLOW = ["2", "0", "9223372036854775807", "", "abc", "-2", "nan", "inf", "0x2", "2/x"]


@pytest.mark.parametrize("value", MISSPELLED + MISSPELLED_VALUES, ids=repr)
def test_a_spelling_the_store_reads_as_another_id_is_misspelled(value):
    assert rules.misspelled_experiment_id(value)


@pytest.mark.parametrize("value", [*LEFT_TO_MLFLOW, None, ["02"], {"id": "02"}], ids=repr)
def test_the_canonical_id_and_what_names_no_experiment_are_not(value):
    assert not rules.misspelled_experiment_id(value)


def test_every_pattern_a_mapping_stores_is_a_spelling_the_guard_lets_through():
    """What the guard lets through is what grants are stored as: the two never disagree."""
    for text in ["2", "02", "+2", "000", "0" * 50 + "42", "9223372036854775807"]:
        stored = rules.canonical_pattern_spelling(text, rules.EXPERIMENT)
        assert not rules.misspelled_experiment_id(stored)
        assert rules.misspelled_experiment_id(text) is (text != stored)


def test_the_body_ids_are_read_at_the_top_and_where_traces_nest_them():
    body = {
        "experiment_id": "1",
        "experimentIds": ["3", "04"],
        "trace": {"traceInfo": {"trace_location": {"mlflow_experiment": {"experiment_id": "+5"}}}},
        "locations": [
            {"mlflowExperiment": {"experimentId": "6"}},
            {"mlflow_experiment": {"experiment_id": " 7"}},
            "not a location",
        ],
        "params": {"experiment_id": "elsewhere"},  # no check of MLflow's reads it
    }
    assert list(guard.ids_in_body(body)) == ["1", "3", "04", "+5", "6", " 7"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"resource_type": "experiment", "resource_id": "02"}, ["02"]),
        ({"resource_type": "scorer", "resource_id": "+2/my scorer"}, ["+2"]),
        ({"resource_type": "registered_model", "resource_id": "02"}, []),
        ({"resource_type": "scorer", "resource_id": 2}, []),
    ],
)
def test_a_permission_route_names_the_experiment_of_its_resource_key(fields, named):
    assert list(guard.ids_in_body(fields)) == named
    assert list(guard.ids_in_resource_key(fields)) == named


@pytest.mark.parametrize("body", [None, "text", [], {"trace": "x", "locations": {"a": 1}}])
def test_a_body_of_another_shape_names_no_id(body):
    assert list(guard.ids_in_body(body)) == []


def test_graphql_ids_are_read_from_literals_variables_and_input_variables():
    query = """
        query q($one: String!, $many: [String], $input: MlflowSearchRunsInput) {
          a: mlflowGetExperiment(input: {experimentId: "02"}) { experiment { name } }
          b: mlflowGetExperiment(input: {experimentId: $one}) { experiment { name } }
          c: mlflowSearchRuns(input: {experimentIds: ["1", $one]}) { runs { info { runId } } }
          d: mlflowSearchRuns(input: {experimentIds: $many}) { runs { info { runId } } }
          e: mlflowSearchRuns(input: $input) { runs { info { runId } } }
        }
    """
    variables = {"one": "+2", "many": ["3", " 4"], "input": {"experimentIds": ["05"]}}
    found = list(guard.ids_in_graphql({"query": query, "variables": variables}))
    assert sorted(found) == sorted(["05", "02", "+2", "1", "+2", "3", " 4"])


def test_a_malformed_graphql_query_is_left_to_mlflow():
    assert list(guard.ids_in_graphql({"query": "{ mlflowGetExperiment(input: {"})) == []


@pytest.mark.parametrize(
    ("path", "experiment_id"),
    [
        ("2/abc/artifacts/x.txt", "2"),
        ("02/abc/artifacts/x.txt", "02"),
        ("%30%32/abc", "02"),  # MLflow decodes the path once more
        ("workspaces/team/+2/abc", "+2"),
        ("/2/", "2"),
        ("", ""),
    ],
)
def test_an_artifact_path_names_the_experiment_it_starts_with(path, experiment_id):
    assert guard.artifact_experiment_id(path) == experiment_id


@pytest.mark.parametrize(
    ("path", "artifact_path"),
    [
        ("/api/2.0/mlflow-artifacts/artifacts/02/r/artifacts/x", "02/r/artifacts/x"),
        ("/ajax-api/2.0/mlflow-artifacts/mpu/create/02/r/x", "02/r/x"),
        ("/api/2.0/mlflow-artifacts/artifacts", ""),
        ("/api/2.0/mlflow/experiments/get", None),
    ],
)
def test_the_artifact_path_of_a_route(path, artifact_path):
    assert guard.artifact_path_of(path) == artifact_path


def scope(path: str, headers=(), query: bytes = b"") -> dict:
    return {"type": "http", "path": path, "headers": list(headers), "query_string": query}


def test_the_asgi_ids_are_the_otlp_header_and_the_artifact_paths():
    otlp = scope("/v1/traces", [(b"X-Mlflow-Experiment-Id", b"02"), (b"other", b"+2")])
    assert list(guard.ids_in_asgi_scope(otlp)) == ["02"]
    listing = scope("/api/2.0/mlflow-artifacts/artifacts", query=b"path=%2B2%2Fr")
    assert list(guard.ids_in_asgi_scope(listing)) == ["+2"]
    upload = scope("/api/2.0/mlflow-artifacts/artifacts/02/r/artifacts/x")
    assert list(guard.ids_in_asgi_scope(upload)) == ["02"]
    assert list(guard.ids_in_asgi_scope(scope("/api/2.0/mlflow/runs/search"))) == []


def run_asgi(app, request_scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # On a thread of its own: a browser test earlier in this process leaves Playwright's
    # event loop running on the main thread, where asyncio.run() refuses to start.
    worker = threading.Thread(target=asyncio.run, args=(app(request_scope, receive, send),))
    worker.start()
    worker.join()
    return sent


def test_the_asgi_guard_answers_mlflow_s_400_and_passes_the_rest_on():
    passed_on = []

    async def inner(request_scope, receive, send):
        passed_on.append(request_scope["path"])

    app = guard.ExperimentIdGuard(inner)
    sent = run_asgi(app, scope("/v1/traces", [(b"x-mlflow-experiment-id", b"+2")]))
    assert sent[0]["status"] == 400
    assert b"INVALID_PARAMETER_VALUE" in sent[1]["body"]
    assert passed_on == []
    assert run_asgi(app, scope("/v1/traces", [(b"x-mlflow-experiment-id", b"2")])) == []
    assert passed_on == ["/v1/traces"]


def test_the_guard_is_on_exactly_where_mlflow_matches_request_ids_as_spelled():
    """The feature test agrees with MLflow's engine: 3.17 does not match a grant on "2"
    to a request for "02" (the guard is on), 3.18 does (the guard is off)."""
    from mlflow.server.auth import permissions

    engine_canonicalises = permissions.matches("2", rules.EXPERIMENT, "02")
    assert rules.request_ids_canonicalised() is engine_canonicalises


def flask_ids(path: str, **request) -> list[object]:
    """The ids the Flask half reads from a request to an app routed like MLflow's."""
    from flask import Flask

    app = Flask(__name__)
    app.add_url_rule(
        "/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>", "artifact", lambda: ""
    )
    app.add_url_rule("/<path:anything>", "other", lambda: "", methods=["GET", "POST", "PATCH"])
    with app.test_request_context(path, **request):
        return list(guard.ids_in_flask_request())


def test_the_flask_half_reads_arguments_bodies_graphql_and_artifact_paths():
    assert flask_ids("/api/2.0/mlflow/experiments/get?experiment_id=02") == ["02"]
    assert flask_ids(
        "/api/2.0/mlflow/runs/search", method="POST", json={"experiment_ids": ["+2"]}
    ) == ["+2"]
    double_encoded = '"{\\"experiment_id\\": \\" 2\\"}"'
    assert flask_ids(
        "/api/2.0/mlflow/runs/create",
        method="POST",
        data=double_encoded,
        content_type="application/json",
    ) == [" 2"]
    # No content type: MLflow's message reader parses the body all the same.
    assert flask_ids("/api/2.0/mlflow/x", method="PATCH", data='{"experiment_id": "02"}') == ["02"]
    assert (
        flask_ids(
            "/api/2.0/mlflow/x",
            method="POST",
            data='{"experiment_id": "02"}',
            content_type="text/plain",
        )
        == []
    )
    graphql = {
        "query": '{ mlflowGetExperiment(input: {experimentId: "02"}) { experiment { name } } }'
    }
    assert flask_ids("/graphql", method="POST", json=graphql) == ["02"]
    assert flask_ids("/api/2.0/mlflow-artifacts/artifacts/02/r/artifacts/x") == ["02"]
    # An artifact's body is a file, never read as an id.
    assert flask_ids(
        "/api/2.0/mlflow-artifacts/artifacts/2/r/artifacts/x.json",
        method="PUT",
        json={"experiment_id": "02"},
    ) == ["2"]
