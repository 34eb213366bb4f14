import pytest

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
