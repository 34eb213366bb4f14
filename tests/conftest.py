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
#: The xdist group of every test that needs the Samba DC (one DC: fixed ports).
AD_GROUP = "samba-ad"


def _uses_a_module_fixture(item) -> bool:
    """Whether ``item`` needs a fixture set up once per module (a shared server)."""
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return False
    return any(
        definitions[-1].scope in ("module", "package", "class")
        for definitions in fixtures.name2fixturedefs.values()
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(items):
    """Layer markers by where a test lives and what it drives.

    ``unit``: tests/unit/, no servers (``pytest -m unit`` is the fast loop);
    ``browser``: drives Chromium (uses Playwright's ``page`` or ``browser``);
    ``ad``: needs the Samba AD domain controller; everything else is ``integration``
    (real slapd / MLflow / PostgreSQL).

    Under ``pytest -n N --dist loadgroup`` (.ci/test) the tests of a module that use a
    module-scoped fixture stay on one worker (``xdist_group``), so its servers start
    once; the Samba DC listens on fixed ports, so every ``ad`` test shares one group
    whatever its module. The other tests (unit tests, tests that start their own
    servers) spread over the workers one by one.
    """
    for item in items:
        path = Path(str(item.fspath))
        if _UNIT_DIR in path.parents:
            item.add_marker(pytest.mark.unit)
            continue
        item.add_marker(pytest.mark.integration)
        if path.name in _AD_MODULES:
            item.add_marker(pytest.mark.ad)
            item.add_marker(pytest.mark.xdist_group(AD_GROUP))
        elif _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(path.stem))
        if {"page", "browser"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
