"""The installed MLflow still offers everything mlflow_compat relies on.

Run against every supported MLflow release (CI: the newest and the oldest). A failure
here names the symbol, parameter, table or store method that changed.
"""

import ast
import importlib
import inspect
import re

import pytest
from package_source import COMPAT_DIR, PACKAGE_DIR, names_defined_in_package
from packaging.version import Version

import mlflow_ldap_auth
from mlflow_ldap_auth.config import PERMISSIONS
from mlflow_ldap_auth.mlflow_compat import (
    bridge,
    contract,
    mlflow_tables,
    permission_cache,
    server_process,
    ui_index,
    workspaces,
)
from mlflow_ldap_auth.mlflow_compat.contract import SYMBOLS
from mlflow_ldap_auth.mlflow_compat.version import SUPPORTED_MLFLOW, installed_mlflow_version

PRIVATE_NAME = re.compile(r"_[A-Za-z][A-Za-z0-9_]*")


def resolve(symbol):
    value = importlib.import_module(symbol.module)
    for part in symbol.path.split("."):
        value = getattr(value, part)
    return value


def test_the_installed_mlflow_is_a_supported_release():
    assert installed_mlflow_version() in SUPPORTED_MLFLOW


def installed_before(release: str | None) -> bool:
    from mlflow.version import VERSION

    return release is not None and Version(VERSION) < Version(release)


@pytest.mark.parametrize("symbol", SYMBOLS, ids=lambda s: f"{s.module}:{s.path}")
def test_symbol_exists_with_the_parameters_the_plugin_passes(symbol):
    if installed_before(symbol.since):
        # Not a skip: an older release must indeed lack it, or ``since`` is wrong (the
        # plugin uses it only where the release offers it, or its own fallback).
        with pytest.raises((AttributeError, ImportError)):
            resolve(symbol)
        return
    value = resolve(symbol)
    if symbol.parameters:
        names = list(inspect.signature(value).parameters)
        assert names[: len(symbol.parameters)] == list(symbol.parameters), names


def test_the_default_workspace_is_mlflows():
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    assert workspaces.DEFAULT_WORKSPACE == DEFAULT_WORKSPACE_NAME


@pytest.mark.parametrize("module, name, ours", contract.ENVIRONMENT)
def test_private_environment_variable_names(module, name, ours):
    imported = importlib.import_module(module)
    if installed_before(contract.ADDED_IN.get(name)):
        assert not hasattr(imported, name), f"{name} is older than contract.ADDED_IN says"
        return
    value = getattr(imported, name)
    assert getattr(value, "name", value) == getattr(server_process, ours)


def test_mlflows_ui_page_is_the_conditional_file_answer_the_bar_expects():
    from mlflow.server import app

    rules = [rule.rule for rule in app.url_map.iter_rules()]
    endpoints = [r.endpoint for r in app.url_map.iter_rules() if r.rule == "/"]
    assert endpoints == [ui_index.INDEX_ENDPOINT], rules
    with app.test_client().get("/") as answer:
        assert answer.status_code == 200
        assert answer.mimetype == "text/html"
        assert answer.headers.get("ETag")
        assert "Content-Encoding" not in answer.headers
        assert answer.get_data().lower().count(b"</head>") == 1


def test_the_auth_config_takes_every_key_the_bridge_writes(tmp_path):
    from mlflow.server.auth.config import AuthConfig

    written = set(bridge.MLFLOW_KEYS_WRITTEN)
    assert written <= set(AuthConfig._fields), written - set(AuthConfig._fields)


def test_tables_and_columns_read_directly_exist_in_mlflow_models():
    from mlflow.server.auth.db import models

    tables = models.Base.metadata.tables
    for table, columns in mlflow_tables.READ_COLUMNS.items():
        assert table in tables, table
        assert columns <= set(tables[table].columns.keys()), (table, columns)


def test_every_public_store_method_is_classified_by_the_permission_cache():
    """A method a new MLflow adds must be classified, not silently treated as anything."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    public = set(permission_cache.public_methods(SqlAlchemyStore))
    classified = permission_cache.READ_METHODS | permission_cache.WRITE_METHODS
    classified |= permission_cache.NEVER_CACHED
    assert public - classified == set(), "unclassified store methods"
    from mlflow.version import VERSION

    newer = {
        name
        for name, release in permission_cache.ADDED_IN.items()
        if Version(VERSION) < Version(release)
    }
    assert classified - public == newer, "classified methods MLflow no longer has"
    assert set(permission_cache.ADDED_IN) <= classified
    assert not permission_cache.READ_METHODS & permission_cache.WRITE_METHODS


def test_read_methods_only_read():
    """MLflow's naming: readers are get_/list_/has_/is_/user_has_ (a write named like a
    read would be cached: this keeps the list honest)."""
    readers = ("get_", "list_", "has_", "is_", "user_has_")
    assert all(name.startswith(readers) for name in permission_cache.READ_METHODS)
    assert not any(name.startswith(readers) for name in permission_cache.WRITE_METHODS)


def test_permissions_the_config_accepts_are_mlflow_permissions():
    from mlflow.server.auth.permissions import ALL_PERMISSIONS

    assert set(PERMISSIONS) <= set(ALL_PERMISSIONS)


def _mlflow_names_used_in_compat() -> set[tuple[str, str]]:
    """(module, name) of MLflow private names and route names the compat code uses."""
    own_names = names_defined_in_package()
    used = set()
    for path in COMPAT_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlflow."):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        used.add((node.module, alias.name))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # getattr(module, "_name") and private environment variable names.
                if PRIVATE_NAME.fullmatch(node.value) and node.value not in own_names:
                    used.add(("?", node.value))
            elif isinstance(node, ast.Attribute):
                base = node.value
                if isinstance(base, ast.Name) and base.id == "routes":
                    used.add(("mlflow.server.auth.routes", node.attr))
                elif node.attr.startswith("_") and not node.attr.startswith("__"):
                    if node.attr not in own_names:
                        used.add(("?", node.attr))
    return used


def test_every_mlflow_private_name_in_compat_is_in_the_contract():
    declared = {(s.module, s.path.split(".")[-1]) for s in SYMBOLS}
    declared_names = {name for _, name in declared}
    declared_names |= {getattr(server_process, ours) for _, _, ours in contract.ENVIRONMENT}
    missing = set()
    for module, name in _mlflow_names_used_in_compat():
        if (module == "?" and name not in declared_names) or (
            module != "?" and (module, name) not in declared
        ):
            missing.add((module, name))
    assert missing == set()


def test_the_declared_requirement_is_the_supported_range():
    import tomllib

    pyproject = tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())
    from packaging.requirements import Requirement

    declared = next(r for r in pyproject["project"]["dependencies"] if r.startswith("mlflow"))
    assert Requirement(declared).specifier == SUPPORTED_MLFLOW
    assert pyproject["project"]["version"] == mlflow_ldap_auth.__version__
    oldest = (PACKAGE_DIR.parent / ".ci" / "oldest-mlflow").read_text()
    lower = next(s.version for s in SUPPORTED_MLFLOW if s.operator == ">=")
    assert f'OLDEST="{lower}.0"' in oldest
