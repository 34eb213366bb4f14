"""Pages of the plugin's own lists (tokens, sessions), cut by (``created_at``, ``id``).

A page token names the last row shown, not an offset, so paging while rows are added
neither repeats nor skips one. It is opaque to clients (URL-safe base64 of
``created_at:id``) and parsed strictly: anything this module did not make is None.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone

_CURSOR = re.compile(r"(\d{1,19}):([0-9a-f]{1,32})")
_BIGINT_MAX = 2**63 - 1


def page_token(created_at: int, row_id: str) -> str:
    """The opaque page token of the page that follows the row (``created_at``, ``row_id``)."""
    text = f"{created_at}:{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def parse_page_token(token: str) -> tuple[int, str] | None:
    """(created_at, id) of the last row shown; None if ``token`` is not one we gave out."""
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    match = _CURSOR.fullmatch(text)
    if match is None or int(match.group(1)) > _BIGINT_MAX:
        return None
    return int(match.group(1)), match.group(2)


def iso(epoch: int | None) -> str | None:
    """An epoch in seconds as the lists show it (UTC, ``2026-12-07T03:04:05Z``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
