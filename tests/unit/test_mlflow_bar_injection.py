"""``web.mlflow_bar``: the one script tag in MLflow's UI page, and nothing else changed.

A bare Flask app stands in for MLflow's: its ``serve`` view sends an ``index.html`` with
``send_from_directory`` as MLflow's does (``mlflow_compat.ui_index``; the contract test
checks MLflow's own), so the answers here are the conditional file answers MLflow gives.
"""

import pytest
from flask import Flask, Response, send_from_directory

from mlflow_ldap_auth.web import mlflow_bar

PAGE = b'<!doctype html><html><head><title>MLflow</title></head><body><div id="root"></div></body>'
TAG = (
    b'<script src="/ldap-admin/static/mlflow-bar.js" data-me="/api/2.0/mlflow/ldap-auth/me"'
    b" defer></script>"
)


def build(directory, bar: bool = True) -> Flask:
    flask_app = Flask(__name__)

    @flask_app.route("/")
    def serve():
        return send_from_directory(directory, "index.html")

    @flask_app.route("/other.html")
    def other():
        return send_from_directory(directory, "index.html")

    @flask_app.route("/health")
    def health():
        return Response("OK", mimetype="text/plain")

    if bar:
        mlflow_bar.install(flask_app)
    return flask_app


@pytest.fixture
def app(tmp_path):
    (tmp_path / "index.html").write_bytes(PAGE)
    (tmp_path / "bare.html").write_bytes(b"<p>no head here</p>")
    return build(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


def original_etag(directory) -> str:
    """MLflow's own ETag for the page: the same view's answer without the bar."""
    with build(directory, bar=False).test_client().get("/") as answer:
        return answer.headers["ETag"]


def test_the_tag_names_the_script_and_the_endpoint():
    assert mlflow_bar.script_tag("") == TAG


def test_mlflows_page_carries_the_tag_once_with_its_length(client):
    answer = client.get("/")
    assert answer.status_code == 200
    body = answer.get_data()
    assert body.count(b"mlflow-bar.js") == 1
    assert body == PAGE.replace(b"</head>", TAG + b"</head>")
    assert answer.headers["Content-Length"] == str(len(body))
    assert answer.headers["Cache-Control"] == "no-cache"  # MLflow's, kept


def test_the_page_has_an_etag_of_its_own_and_revalidates_to_304(tmp_path, client):
    answer = client.get("/")
    etag = answer.headers["ETag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert etag != original_etag(tmp_path)


def test_a_new_etag_when_the_tag_changes():
    assert mlflow_bar.tagged_etag("abc", TAG) != mlflow_bar.tagged_etag("abc", TAG + b" ")
    assert mlflow_bar.tagged_etag("abc", TAG) != mlflow_bar.tagged_etag("abd", TAG)


def test_a_304_from_mlflows_own_etag_passes_untouched(app, tmp_path):
    etag = original_etag(tmp_path)
    with app.test_client().get("/", headers={"If-None-Match": etag}) as answer:
        assert answer.status_code == 304
        assert answer.headers["ETag"] == etag
        assert answer.get_data() == b""


def test_a_range_answer_passes_untouched(client):
    last = len(PAGE) - 2  # the part holds </head>
    with client.get("/", headers={"Range": f"bytes=0-{last}"}) as answer:
        assert answer.status_code == 206
        assert answer.get_data() == PAGE[: last + 1]


def test_head_passes_untouched(app, tmp_path):
    etag = original_etag(tmp_path)
    with app.test_client().head("/") as answer:
        assert answer.headers["ETag"] == etag
        assert answer.headers["Content-Length"] == str(len(PAGE))


def test_other_answers_pass_untouched(client):
    with client.get("/other.html") as answer:  # HTML, but not MLflow's page
        assert answer.get_data() == PAGE
    assert client.get("/health").get_data() == b"OK"


def test_a_page_that_is_not_html_passes_untouched(app):
    app.view_functions["serve"] = lambda: Response("plain</head>", mimetype="text/plain")
    assert app.test_client().get("/").get_data() == b"plain</head>"


def test_an_encoded_page_passes_untouched(app):
    app.view_functions["serve"] = lambda: Response(
        PAGE, mimetype="text/html", headers={"Content-Encoding": "gzip"}
    )
    assert app.test_client().get("/").get_data() == PAGE


def test_a_page_without_head_end_passes_untouched(app, tmp_path):
    app.view_functions["serve"] = lambda: send_from_directory(tmp_path, "bare.html")
    with app.test_client().get("/") as answer:
        assert answer.get_data() == b"<p>no head here</p>"


def test_the_tag_escapes_the_prefix():
    tag = mlflow_bar.script_tag('/a"b<')
    assert b'src="/a&quot;b&lt;/ldap-admin/static/mlflow-bar.js"' in tag
    assert b'"/a"' not in tag
