"""The page tokens of the token and session lists (``db.paging``): what a client sends
back is parsed strictly, and only what the server made is a page."""

import pytest

from mlflow_ldap_auth.db.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    iso,
    page_after,
    page_size,
    page_token,
    parse_page_token,
)
from mlflow_ldap_auth.errors import InvalidRequest


def test_a_page_token_names_the_row_it_follows():
    token = page_token(1_800_000_000, "0123abcd")
    assert "=" not in token
    assert parse_page_token(token) == (1_800_000_000, "0123abcd")


@pytest.mark.parametrize(
    "sent",
    [
        "",
        "not base64 at all!",
        page_token(1, "NOT-HEX"),
        page_token(2**63, "ab"),  # past a BIGINT: no database query with it
        page_token(1, "a" * 33),
        "LTE6YWI",  # "-1:ab": no sign
        "w7w",  # not ASCII
    ],
)
def test_what_the_server_did_not_make_is_no_page(sent):
    assert parse_page_token(sent) is None


def test_times_are_shown_in_utc_seconds():
    assert iso(None) is None
    assert iso(0) == "1970-01-01T00:00:00Z"


def test_what_a_client_asks_for_is_read_strictly():
    assert page_size(None) == page_size("") == DEFAULT_PAGE_SIZE
    assert page_size("7") == page_size(7) == 7
    assert page_size(MAX_PAGE_SIZE) == MAX_PAGE_SIZE
    for bad in (0, MAX_PAGE_SIZE + 1, "ten", True, -1):
        with pytest.raises(InvalidRequest, match="'max_results'"):
            page_size(bad)
    assert page_after(None) is None and page_after("") is None
    assert page_after(page_token(5, "ab")) == (5, "ab")
    for bad in ("bm9wZQ", 12):
        with pytest.raises(InvalidRequest, match="'page_token'"):
            page_after(bad)
