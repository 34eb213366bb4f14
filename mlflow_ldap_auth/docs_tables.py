"""Markdown tables in the docs pages that code writes: where one is, and its replacement.

``config_docs`` (the configuration keys) and ``reasons_docs`` (the audit events and
reasons) each find a table as the first one after a line they name, and replace it
with the one the code gives; a drift test compares the page with what they write.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def table_span(lines: list[str], lead: str, *, whole_line: bool) -> tuple[int, int]:
    """The table after the first line that is ``lead`` (``whole_line``, spaces aside) or
    starts with it: (first line, line after the last)."""

    def is_lead(line: str) -> bool:
        return line.strip() == lead if whole_line else line.startswith(lead)

    after = next((i for i, line in enumerate(lines) if is_lead(line)), None)
    if after is None:
        raise ValueError(f"no line {lead}")
    start = next((i for i in range(after + 1, len(lines)) if lines[i].startswith("|")), None)
    if start is None:
        raise ValueError(f"no table after the line {lead}")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return start, end


def replace_table(lines: list[str], lead: str, table: str, *, whole_line: bool) -> None:
    """Put ``table`` where the table after the ``lead`` line is (``lines`` changed in place)."""
    start, end = table_span(lines, lead, whole_line=whole_line)
    lines[start:end] = table.split("\n")


def main(argv: list[str], tables: str, update_tables: Callable[[str], str]) -> int:
    """A generator's command line: no argument prints ``tables``; a page's path rewrites
    its tables with ``update_tables``."""
    if not argv:
        print(tables)
        return 0
    path = Path(argv[0])
    path.write_text(update_tables(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0
