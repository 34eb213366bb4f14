"""The workspace every resource is in when MLflow's workspaces are off.

Written down rather than imported so modules that must not import MLflow at import time
can use it; ``tests/unit/test_mlflow_contract.py`` checks it is MLflow's
``DEFAULT_WORKSPACE_NAME``.
"""

DEFAULT_WORKSPACE = "default"
