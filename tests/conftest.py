import os
from pathlib import Path

import pytest

# MLflow's telemetry client (in every process that imports mlflow: the test processes,
# and through them the MLflow clients they drive) sets and unsets
# _MLFLOW_TELEMETRY_SESSION_ID in os.environ from its own thread; on a closed network it
# gives up and unsets it while a request of the test's thread reads the environment
# (requests' proxy look-up): "KeyError: '_MLFLOW_TELEMETRY_SESSION_ID'". Off for the
# tests; servers start with the environment minus MLFLOW_* (servers.MlflowServer).
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

from postgres import PostgresInstance
from servers import SlapdInstance


@pytest.fixture(scope="session")
def slapd():
    """One seeded slapd (plain and TLS listeners) for the whole session."""
    instance = SlapdInstance().start()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def own_slapd():
    """A seeded slapd for one module alone: it may add entries, stop or freeze it."""
    instance = SlapdInstance().start()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL for one module (create_database() per use)."""
    instance = PostgresInstance().start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """Debian's Chromium (never a downloaded browser), quiet on a closed network."""
    return {
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-dev-shm-usage",
        ],
    }


_UNIT_DIR = Path(__file__).parent / "unit"
_AD_MODULES = {"test_active_directory.py", "test_kerberos.py"}
#: The modules that took longest on a busy 2-core machine (``--durations``), longest
#: first. On pytest-xdist workers (.ci/test: ``--dist loadfile --no-loadscope-reorder``)
#: modules are handed out in collection order: these go first, so that no long module
#: starts last and runs alone; the unit tests, many and short, fill in at the end. Only
#: the order changes: a module missing here runs after these, as collected.
LONGEST_MODULES = (
    "test_mappings.py",
    "test_who_has_access.py",
    "test_tokens.py",
    "test_trust_server.py",
    "test_experiment_ids.py",
    "test_active_directory.py",
    "test_kerberos.py",
    "test_trust_accounts.py",
    "test_revalidation.py",
    "test_wheel.py",
    "test_revalidation_races.py",
    "test_activity.py",
    "test_several_servers.py",
    "test_session_cookie.py",
    "test_signin.py",
    "test_directory_recovery.py",
    "test_startup.py",
    "test_server.py",
    "test_lockout.py",
    "test_metrics.py",
    "test_skills.py",
    "test_admin_ui.py",
    "test_trust_faults.py",
    "test_mlflow_release.py",
)


def pytest_collection_modifyitems(items):
    """Layer markers by where a test lives and what it drives; on a pytest-xdist worker,
    the longest modules first (``LONGEST_MODULES``).

    ``unit``: tests/unit/, no servers (``pytest -m unit`` is the fast loop);
    ``browser``: drives Chromium (uses Playwright's ``page`` or ``browser``);
    ``ad``: needs the Samba AD domain controller; everything else is ``integration``
    (real slapd / MLflow / PostgreSQL).
    """
    for item in items:
        path = Path(str(item.fspath))
        if _UNIT_DIR in path.parents:
            item.add_marker(pytest.mark.unit)
            continue
        item.add_marker(pytest.mark.integration)
        if path.name in _AD_MODULES:
            item.add_marker(pytest.mark.ad)
        if {"page", "browser"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_hand_out_order)  # stable: a module's own order stays


def _hand_out_order(item) -> int:
    path = Path(str(item.fspath))
    if path.name in LONGEST_MODULES:
        return LONGEST_MODULES.index(path.name)
    return len(LONGEST_MODULES) + (_UNIT_DIR in path.parents)
