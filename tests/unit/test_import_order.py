"""Which modules may load ``mlflow.server.auth`` when they are imported: a named few.

MLflow's auth module reads its configuration once, when it is first imported, and
``mlflow_compat/bridge.py`` refuses to configure it after that. So every module of the
package must be importable before ``bridge.import_mlflow_auth`` runs, and reaches MLflow's
auth module only inside functions called later (``mlflow_compat``). The exceptions are
the modules below, each for a reason that does not go away.

One interpreter answers for every module: a finder refuses ``mlflow.server.auth`` with an
exception nothing in the package catches, so a module whose imports reach it fails (and,
with every module of ours that was importing it, is dropped from ``sys.modules``, so the
next module that reaches it fails as well), while a module that imports fine never
loaded it. That is what a fresh interpreter per module would say, in one start of MLflow.
"""

import json
import os
import subprocess
import sys
import textwrap

from package_source import PACKAGE_DIR

#: Module -> why it loads ``mlflow.server.auth`` as it is imported.
ALLOWED = {
    "mlflow_ldap_auth.mlflow_compat.client_base": (
        "subclasses MLflow's AuthServiceClient, which lives in mlflow.server.auth.client: "
        "importing it runs the package's __init__"
    ),
    "mlflow_ldap_auth.client": (
        "the mlflow.app.client entry point, built on client_base; MLflow's command line "
        "imports it, where no server configuration is read"
    ),
}

_PROBE = textwrap.dedent(
    """
    import importlib, json, sys, warnings

    warnings.simplefilter("ignore")


    class Loaded(BaseException):
        pass


    class Refuse:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "mlflow.server.auth" or name.startswith("mlflow.server.auth."):
                raise Loaded(name)
            return None


    sys.meta_path.insert(0, Refuse)
    answers = {}
    for module in json.loads(sys.argv[1]):
        try:
            importlib.import_module(module)
            answers[module] = "fine"
        except Loaded:
            answers[module] = "loads mlflow.server.auth"
        except BaseException as error:  # reported, not hidden
            answers[module] = f"import failed: {type(error).__name__}: {error}"
    print(json.dumps(answers))
    """
)


def package_modules() -> list[str]:
    """Every module of the package but the alembic scripts (loaded by alembic, by path)."""
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue  # runs the command line when imported
        modules.append(".".join(parts))
    return modules


def probe(modules: list[str]) -> dict[str, str]:
    environment = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,  # a bound on a hung interpreter, not a guess at the machine's speed
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_only_the_named_modules_load_mlflow_auth_when_imported():
    modules = package_modules()
    assert len(modules) > 50, modules
    answers = probe(modules)
    failed = {module: answer for module, answer in answers.items() if answer.startswith("import")}
    assert failed == {}
    loading = {module for module, answer in answers.items() if answer != "fine"}
    assert loading == set(ALLOWED)


def test_the_probe_sees_a_module_that_loads_mlflow_auth():
    assert probe(["mlflow.server.auth.permissions", "json"]) == {
        "mlflow.server.auth.permissions": "loads mlflow.server.auth",
        "json": "fine",
    }
