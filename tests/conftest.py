import pytest

from servers import SlapdInstance


@pytest.fixture(scope="session")
def slapd():
    """One seeded slapd (plain and TLS listeners) for the whole session."""
    instance = SlapdInstance().start()
    yield instance
    instance.cleanup()
