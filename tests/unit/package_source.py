"""The plugin's own source, read as syntax trees (for the MLflow boundary tests)."""

import ast
from pathlib import Path

import mlflow_ldap_auth

PACKAGE_DIR = Path(mlflow_ldap_auth.__file__).parent
COMPAT_DIR = PACKAGE_DIR / "mlflow_compat"


def names_defined_in_package() -> set[str]:
    """Every name the plugin itself defines: functions, classes, assigned names and
    attributes, parameters. A private name outside this set comes from elsewhere."""
    names = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names
