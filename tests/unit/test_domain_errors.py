"""Domain errors become MLflow's JSON error answers in one place, byte for byte as before.

Each ``DomainError`` class is compared with the ``MlflowException`` the plugin raised
before it (same message, MLflow's protobuf code): ``catch_mlflow_exception`` answered
that with ``serialize_as_json()`` and ``get_http_status_code()``, so ``error_answer``
must give the same status and the same body bytes (on MLflow 3.18 some codes carry
``sqlstate`` and ``error_class``). The guards wrote ``{"error_code", "message"}`` only:
``guard_answer`` still does. The source checks keep it that way: the domain modules
raise our errors, and only ``web/http_answers`` writes an error body.
"""

import ast
import json
from pathlib import Path

import pytest
from flask import Blueprint, Flask
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from package_source import COMPAT_DIR, PACKAGE_DIR

from mlflow_ldap_auth.errors import (
    AlreadyExists,
    DomainError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from mlflow_ldap_auth.tokens.service import CreationRateExceeded
from mlflow_ldap_auth.web.http_answers import error_answer, guard_answer, install_error_answers

WEB_DIR = PACKAGE_DIR / "web"
ANSWERS = PACKAGE_DIR / "web" / "http_answers.py"

CASES = [
    (InvalidRequest("'name' is required"), databricks_pb2.INVALID_PARAMETER_VALUE, 400),
    (NotFound("no token 'x'"), databricks_pb2.RESOURCE_DOES_NOT_EXIST, 404),
    (
        AlreadyExists("group 'cn=a' already has an admin mapping; delete it first"),
        databricks_pb2.RESOURCE_ALREADY_EXISTS,
        400,
    ),
    (Forbidden("only MLflow admins may list other users' tokens"), "PERMISSION_DENIED", 403),
    (Unavailable("directory unavailable: down"), databricks_pb2.TEMPORARILY_UNAVAILABLE, 503),
    (RateLimited("alice created 20 tokens", 42), databricks_pb2.RESOURCE_EXHAUSTED, 429),
    (CreationRateExceeded("alice created 200 tokens", 7), databricks_pb2.RESOURCE_EXHAUSTED, 429),
    (InvalidRequest('non-ASCII: é ✓ and a "quote"'), databricks_pb2.INVALID_PARAMETER_VALUE, 400),
]


def _code(code) -> object:
    return getattr(databricks_pb2, code) if isinstance(code, str) else code


@pytest.mark.parametrize(("error", "code", "status"), CASES, ids=lambda c: type(c).__name__)
def test_an_error_is_answered_as_mlflow_answered_its_exception(error, code, status):
    before = MlflowException(error.message, _code(code))
    with Flask(__name__).app_context():
        answer = error_answer(error)
    assert answer.status_code == status == before.get_http_status_code()
    assert answer.get_data() == before.serialize_as_json().encode()
    assert answer.mimetype == "application/json"
    assert error.error_code == before.error_code
    assert str(error) == error.message


@pytest.mark.parametrize(("error", "code", "status"), CASES, ids=lambda c: type(c).__name__)
def test_a_guard_answers_code_and_message_only(error, code, status):
    with Flask(__name__).app_context():
        answer = guard_answer(error)
    assert answer.status_code == status
    assert (
        answer.get_data()
        == json.dumps({"error_code": error.error_code, "message": error.message}).encode()
    )
    assert answer.mimetype == "application/json"


@pytest.mark.parametrize("answer_of", [error_answer, guard_answer])
@pytest.mark.parametrize(("error", "code", "status"), CASES, ids=lambda c: type(c).__name__)
def test_only_a_rate_limit_adds_a_header(answer_of, error, code, status):
    with Flask(__name__).app_context():
        headers = dict(answer_of(error).headers)
    extra = {k: v for k, v in headers.items() if k not in ("Content-Type", "Content-Length")}
    if isinstance(error, RateLimited):
        assert extra == {"Retry-After": str(error.retry_after)}
    else:
        assert extra == {}


def test_a_blueprint_answers_an_error_its_view_raises():
    blueprint = Blueprint("example", __name__)
    install_error_answers(blueprint)

    @blueprint.get("/limited")
    def limited():
        raise RateLimited("try again in 9 s", 9)

    app = Flask(__name__)
    app.register_blueprint(blueprint)
    answer = app.test_client().get("/limited")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "9"
    assert answer.get_json() == {"error_code": "RESOURCE_EXHAUSTED", "message": "try again in 9 s"}


# -- the source: who raises what, who writes an error body ----------------------------


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text())


def mlflow_errors_made(path: Path, tree: ast.AST) -> list[str]:
    """Where ``tree`` builds an ``MlflowException`` or imports MLflow's error codes."""
    where = path.relative_to(PACKAGE_DIR.parent)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "MlflowException":
                found.append(f"{where}:{node.lineno} builds MlflowException")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id == "MlflowException":
                    found.append(f"{where}:{node.lineno} subclasses MlflowException")
        elif isinstance(node, ast.ImportFrom) and node.module == "mlflow.protos.databricks_pb2":
            found.append(f"{where}:{node.lineno} imports MLflow's error codes")
    return found


def error_bodies_written(path: Path, tree: ast.AST) -> list[str]:
    """Where ``tree`` writes a dict with an ``"error_code"`` key (an error body)."""
    where = path.relative_to(PACKAGE_DIR.parent)
    return [
        f"{where}:{node.lineno} writes an error body"
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        and any(isinstance(k, ast.Constant) and k.value == "error_code" for k in node.keys)
    ]


def domain_modules():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if COMPAT_DIR not in path.parents and WEB_DIR not in path.parents:
            yield path


def test_domain_modules_raise_domain_errors_not_mlflow_exceptions():
    found = [v for path in domain_modules() for v in mlflow_errors_made(path, _tree(path))]
    assert found == []


def test_only_http_answers_writes_an_error_body():
    found = [
        v
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path != ANSWERS
        for v in error_bodies_written(path, _tree(path))
    ]
    assert found == []


def test_the_checks_find_what_they_forbid():
    source = (
        "from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE\n"
        "class Refused(MlflowException): pass\n"
        "raise MlflowException('no', INVALID_PARAMETER_VALUE)\n"
        "raise exceptions.MlflowException('no')\n"
        "body = json.dumps({'error_code': 'X', 'message': 'no'})\n"
    )
    tree = ast.parse(source)
    example = PACKAGE_DIR / "example.py"
    assert len(mlflow_errors_made(example, tree)) == 4
    assert error_bodies_written(example, tree) == [
        "mlflow_ldap_auth/example.py:5 writes an error body"
    ]


def test_every_domain_error_class_is_covered_above():
    covered = {type(error) for error, _code, _status in CASES}
    defined = {cls for cls in _subclasses(DomainError) if cls.__module__.endswith(".errors")}
    assert defined <= covered


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found
