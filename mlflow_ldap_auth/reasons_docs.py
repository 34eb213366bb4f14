"""The Audit events page's tables of events and reasons, made from ``reasons``.

``python -m mlflow_ldap_auth.reasons_docs`` prints the tables;
``python -m mlflow_ldap_auth.reasons_docs docs/reference/audit.md`` rewrites them in
that page (``tests/unit/test_reasons.py`` fails when it differs from the registry). In
the Markdown file, a table is the first table after its marker line:
``<!-- generated: events -->`` or ``<!-- generated: reasons SECTION -->``.
"""

from __future__ import annotations

import sys

from mlflow_ldap_auth import docs_tables
from mlflow_ldap_auth.docs_tables import replace_table
from mlflow_ldap_auth.reasons import EVENTS, REASONS, SECTIONS

_EVENTS_HEADER = ["| event | results | written when |", "|---|---|---|"]
_REASONS_HEADER = ["| event | result | reason | meaning |", "|---|---|---|---|"]


def _code(values) -> str:
    return ", ".join(f"`{value}`" for value in values)


def _row(cells: list[str]) -> str:
    # A "|" ends a cell even inside a code span.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def events_table() -> str:
    rows = [_row([_code([e.name]), _code(e.results), e.meaning]) for e in EVENTS.values()]
    return "\n".join(_EVENTS_HEADER + rows)


def reasons_table(section: str) -> str:
    """The reasons of the events of ``section``, one row per event, result and reason."""
    rows = []
    for event in SECTIONS[section]:
        for result in EVENTS[event].results:
            use = f"{event}/{result}"
            rows += [
                _row([_code([event]), _code([result]), _code([r.value]), r.meaning_in(use)])
                for r in REASONS.values()
                if use in r.uses
            ]
    return "\n".join(_REASONS_HEADER + rows)


def tables() -> dict[str, str]:
    """Each marker's table, by the marker's name."""
    made = {"events": events_table()}
    made.update({f"reasons {section}": reasons_table(section) for section in SECTIONS})
    return made


def update_tables(text: str) -> str:
    """``text`` with the table after each marker replaced by the one the registry gives."""
    lines = text.split("\n")
    for name, table in tables().items():
        replace_table(lines, f"<!-- generated: {name} -->", table, whole_line=True)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    return docs_tables.main(
        argv, "\n\n".join(f"{name}\n\n{table}" for name, table in tables().items()), update_tables
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
