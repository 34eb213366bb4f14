"""The documentation's tables of configuration keys, made from the definitions in ``config_keys``.

``python -m mlflow_ldap_auth.config_docs`` prints the tables;
``python -m mlflow_ldap_auth.config_docs docs/configuration.md`` rewrites them in that
page (the Configuration page of the docs site; ``tests/unit/test_config_keys.py``
fails when it differs from the definitions). In a Markdown file, the table of a
section is the first table after the line that starts with ```[section]```.
"""

from __future__ import annotations

import sys

from mlflow_ldap_auth import docs_tables
from mlflow_ldap_auth.config_keys import SECTIONS, Key
from mlflow_ldap_auth.docs_tables import replace_table

_HEADER = ["| key | value | default | meaning |", "|---|---|---|---|"]


def table(section: str) -> str:
    """The Markdown table of the keys of ``[section]``."""
    return "\n".join(_HEADER + [_row(key) for key in SECTIONS[section]])


def _row(key: Key) -> str:
    value = key.kind.summary + (", secret" if key.secret else "")
    meaning = key.meaning + (f"; `{key.env}` overrides the file" if key.env else "")
    cells = [f"`{key.name}`", value, _default(key), meaning]
    # A "|" ends a cell even inside a code span.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _default(key: Key) -> str:
    if key.required:
        return "required"
    if key.default is None or key.default == ():
        return key.unset
    return f"`{key.kind.render(key.default)}`"


def update_tables(text: str) -> str:
    """``text`` with each section's table replaced by the one the definitions give."""
    lines = text.split("\n")
    for section in SECTIONS:
        replace_table(lines, f"`[{section}]`", table(section), whole_line=False)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    return docs_tables.main(
        argv, "\n\n".join(f"[{section}]\n\n{table(section)}" for section in SECTIONS), update_tables
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
