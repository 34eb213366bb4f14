from pathlib import Path

import pytest

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
_AD_MODULES = {"test_active_directory.py"}


def pytest_collection_modifyitems(items):
    """Layer markers by where a test lives and what it drives.

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
