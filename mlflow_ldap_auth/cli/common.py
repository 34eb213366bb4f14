"""What every command shares: the settings or a printed reason, the operator as actor,
and the activity table for the changes a command makes."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Iterator

from mlflow_ldap_auth import wiring
from mlflow_ldap_auth.config import Settings, load_settings
from mlflow_ldap_auth.errors import ConfigError
from mlflow_ldap_auth.mlflow_compat.version import UnsupportedMlflow, check_supported


def settings_or_none(args: argparse.Namespace) -> Settings | None:
    """The settings, or None after printing the configuration problems."""
    try:
        check_supported()
        return load_settings(args.config, environ=os.environ)
    except (ConfigError, UnsupportedMlflow) as exc:
        print(str(exc), file=sys.stderr)
        return None


def operator_name() -> str:
    """The actor of the command's audit lines: ``cli:<login>``."""
    return f"cli:{getpass.getuser()}"


@contextlib.contextmanager
def recorded(settings: Settings) -> Iterator[None]:
    """Changes made here go to the activity table too, as a server's do (written at the end)."""
    activity = wiring.activity(settings, wiring.open_database(settings))
    try:
        yield
    finally:
        if activity is not None:
            activity.stop()
