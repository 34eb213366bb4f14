"""Pages of the plugin's own lists (tokens, sessions), cut by (``created_at``, ``id``).

A page token names the last row shown, not an offset, so paging while rows are added
neither repeats nor skips one. It is opaque to clients (URL-safe base64 of
``created_at:id``) and parsed strictly: anything this module did not make is None.
What a client asks for (``page_token``, ``max_results``) is read by ``page_after`` and
``page_size``, the same for every list: a bad value is a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Protocol, TypeVar

import sqlalchemy as sa

from mlflow_ldap_auth.errors import InvalidRequest

#: Rows of a page when the client does not say (``max_results``), and the most it may ask.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_CURSOR = re.compile(r"(\d{1,19}):([0-9a-f]{1,32})")
_BIGINT_MAX = 2**63 - 1


class _Listed(Protocol):
    @property
    def created_at(self) -> int: ...
    @property
    def id(self) -> str: ...


_Row = TypeVar("_Row", bound=_Listed)


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


def page_size(value, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The ``max_results`` a client sent (text or a number; none: ``default``), 1 to
    ``maximum`` (the token and session lists take the module's; the activity its own)."""
    if value is None or value == "":
        return default
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if isinstance(value, bool) or not 1 <= size <= maximum:
        raise InvalidRequest(f"'max_results' must be a whole number from 1 to {maximum}")
    return size


def page_after(token) -> tuple[int, str] | None:
    """The row a client's ``page_token`` follows; None for the first page."""
    if token is None or token == "":
        return None
    after = parse_page_token(token) if isinstance(token, str) else None
    if after is None:
        raise InvalidRequest(f"'page_token' is not one this server gave out: {token!r}")
    return after


def iso(epoch: int | None) -> str | None:
    """An epoch in seconds as the lists show it (UTC, ``2026-12-07T03:04:05Z``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest_first(query: sa.Select, table: sa.Table, after: tuple[int, str] | None, size: int):
    """``query`` over ``table`` as one page: newest first (``created_at``, then ``id``),
    after the row ``after`` (a parsed page token), one row more than ``size`` (which
    ``page_of`` reads as "there is a next page")."""
    query = query.order_by(table.c.created_at.desc(), table.c.id)
    if after is not None:
        created_at, row_id = after
        query = query.where(
            sa.or_(
                table.c.created_at < created_at,
                sa.and_(table.c.created_at == created_at, table.c.id > row_id),
            )
        )
    return query.limit(size + 1)


def page_of(records: list[_Row], size: int) -> tuple[list[_Row], str | None]:
    """The rows of a ``newest_first`` query as a page, and the next page's token or None."""
    if len(records) <= size:
        return records, None
    records = records[:size]
    return records, page_token(records[-1].created_at, records[-1].id)
