"""Helpers of the browser tests: the docs' screenshots, the narrow-screen check, and waits.

Waits follow the server, not the machine: a page, a form's answer or a live search is
awaited as long as a REST call of the tests is (``ANSWER_SECONDS``: what the server
needs at most for one answer on a busy shared machine, directory round trips bounded
by ``connect_timeout`` / ``receive_timeout`` included). Playwright's 5 s default for
``expect`` measured the machine's speed instead; importing this module lifts it for
every browser test, and ``answer_to`` waits for the network answer of a request a step
triggers before the page is looked at.
"""

import base64
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Response, expect

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

#: The longest one answer of the server may take (as the REST calls' ``timeout=60``).
ANSWER_SECONDS = 60
ANSWER_MS = ANSWER_SECONDS * 1000

expect.set_options(timeout=ANSWER_MS)


def patient(context):
    """``context`` with the server's bound for clicks, fills and navigations too."""
    context.set_default_timeout(ANSWER_MS)
    context.set_default_navigation_timeout(ANSWER_MS)
    return context


def answer_to(page, path_suffix: str, step: Callable[[], None]) -> Response:
    """Run ``step`` and return the answer to the request it makes to a path ending in
    ``path_suffix`` (e.g. the live search's ``/resources.json``), once it has arrived."""
    with page.expect_response(
        lambda response: urlsplit(response.url).path.endswith(path_suffix), timeout=ANSWER_MS
    ) as answer:
        step()
    response = answer.value
    response.finished()
    return response


def shot(page, name, mask=()):
    """Screenshots for the docs, taken only when asked (UPDATE_SCREENSHOTS=1): a full-page
    screenshot costs Chromium a render that no assertion reads, on a busy machine."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(full_page=True, mask=list(mask), path=str(SCREENSHOTS / f"{name}.png"))


def fits(page) -> bool:
    """The page does not scroll sideways (wide tables scroll inside their own box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def basic_auth(credentials: dict) -> dict:
    """Headers for ``new_context(extra_http_headers=...)`` that send ``credentials``
    (Playwright's ``http_credentials`` form) as HTTP Basic with every request.

    Chromium sends ``http_credentials`` only once a ``401`` challenge asked for them; a
    page opened without credentials now goes to the sign-in page (``303``,
    docs/signing-in.md), where no challenge comes."""
    pair = f"{credentials['username']}:{credentials['password']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
