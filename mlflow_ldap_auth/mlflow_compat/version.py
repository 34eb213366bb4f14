"""Which MLflow releases this plugin supports, checked before anything touches MLflow.

The plugin builds on internals of ``mlflow.server.auth`` (see ``contract``) that may
change in any minor release, so the supported range is explicit and every release in it
is tested. An MLflow outside the range stops ``mlflow server`` with one line naming both
versions, instead of failing later with an ``AttributeError`` inside a worker.
"""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from mlflow_ldap_auth import __version__

#: Keep in step with the ``mlflow[auth]`` requirement in pyproject.toml.
SUPPORTED_MLFLOW = SpecifierSet(">=3.17,<3.19")


class UnsupportedMlflow(Exception):
    pass


def installed_mlflow_version() -> str:
    """The installed MLflow's version, as MLflow itself reports it."""
    from mlflow.version import VERSION  # on call: the check comes before MLflow is imported

    return VERSION


def plugin_version() -> str:
    return __version__


def check_supported(installed: str | None = None) -> None:
    """Raise ``UnsupportedMlflow`` with a one-line message if MLflow is out of range."""
    installed = installed or installed_mlflow_version()
    try:
        supported = Version(installed) in SUPPORTED_MLFLOW
    except InvalidVersion:
        supported = False
    if not supported:
        raise UnsupportedMlflow(
            f"mlflow-ldap-auth {plugin_version()} supports MLflow {SUPPORTED_MLFLOW}, "
            f"but MLflow {installed} is installed: install a supported MLflow "
            f"(pip install 'mlflow[auth]{SUPPORTED_MLFLOW}') or a plugin release for it"
        )
