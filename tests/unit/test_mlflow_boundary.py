"""Only mlflow_compat touches MLflow's internals: the rule, checked on the source."""

import ast
import re
from pathlib import Path

from package_source import COMPAT_DIR, PACKAGE_DIR, names_defined_in_package

PRIVATE_ENV = re.compile(r"_MLFLOW_[A-Z_]+")


def modules_outside_compat():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if COMPAT_DIR not in path.parents:
            yield path, ast.parse(path.read_text())


def violations(path: Path, tree: ast.AST, ours: set[str]) -> list[str]:
    found = []
    where = path.relative_to(PACKAGE_DIR.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"{where}:{node.lineno} imports {alias.name}"
                for alias in node.names
                if alias.name.startswith("mlflow.server.auth")
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlflow."):
            if node.module.startswith("mlflow.server.auth"):
                found.append(f"{where}:{node.lineno} imports from {node.module}")
            found += [
                f"{where}:{node.lineno} imports private {node.module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("_")
            ]
        elif isinstance(node, ast.Attribute):
            name = node.attr
            if name.startswith("_") and not name.startswith("__") and name not in ours:
                found.append(f"{where}:{node.lineno} uses private attribute {name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if PRIVATE_ENV.search(node.value):
                found.append(f"{where}:{node.lineno} names {node.value!r}")
    return found


def test_no_module_outside_mlflow_compat_touches_mlflow_internals():
    ours = names_defined_in_package()
    found = [v for path, tree in modules_outside_compat() for v in violations(path, tree, ours)]
    assert found == []


def test_the_check_finds_what_it_forbids():
    source = (
        "import mlflow.server.auth\n"
        "from mlflow.server.auth.permissions import x\n"
        "from mlflow.server.handlers import _private\n"
        "store._get_active_workspace_name()\n"
        "NAME = '_MLFLOW_SGI_NAME'\n"
    )
    found = violations(PACKAGE_DIR / "example.py", ast.parse(source), set())
    assert len(found) == 5, found
