"""One registry of audit events and reasons (``mlflow_ldap_auth/reasons/``).

The Audit events page's tables are made from it; code names its values, never writes
them as literals; every reason the code can build from other values is in it; each is
a word the login metric keeps as its own label.
"""

import ast
from pathlib import Path

import pytest
from package_source import PACKAGE_DIR

from mlflow_ldap_auth import errors, metrics, reasons
from mlflow_ldap_auth.auth import user_checks
from mlflow_ldap_auth.ldap import account_state, binding
from mlflow_ldap_auth.reasons_docs import tables, update_tables

AUDIT_PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "audit.md"
REGISTRY = PACKAGE_DIR / "reasons"


def test_the_audit_page_tables_match_the_registry():
    text = AUDIT_PAGE.read_text(encoding="utf-8")
    if update_tables(text) != text:
        expected = "\n\n".join(f"{name}\n{table}" for name, table in tables().items())
        pytest.fail(
            "docs/reference/audit.md's tables differ from mlflow_ldap_auth/reasons/; "
            "rewrite them with `python -m mlflow_ldap_auth.reasons_docs "
            "docs/reference/audit.md`. Expected:\n" + expected
        )


def test_update_tables_replaces_only_the_tables():
    markers = ["events"] + [f"reasons {section}" for section in reasons.SECTIONS]
    stale = "".join(f"text {m}\n<!-- generated: {m} -->\n| old |\n|---|\n\n" for m in markers)
    updated = update_tables(stale)
    assert "| old |" not in updated
    assert updated.startswith("text events\n<!-- generated: events -->\n| event | results |")
    assert "\n\ntext reasons logins\n<!-- generated: reasons logins -->\n| event |" in updated
    with pytest.raises(ValueError, match="reasons logins"):
        update_tables("<!-- generated: events -->\n| a |\n")


def literals_of_reasons(path: Path, tree: ast.AST) -> list[str]:
    """Where ``tree`` writes an audit reason or event as a string literal: a ``reason=``
    argument, an assignment to ``reason`` (a name, an attribute, a class attribute), or
    the event (first argument) of an ``audit(...)`` call."""
    where = path.relative_to(PACKAGE_DIR.parent)

    def literal(node) -> bool:
        return isinstance(node, ast.Constant) and isinstance(node.value, str)

    def named_reason(target) -> bool:
        name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
        return name == "reason"

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += [
                f"{where}:{node.lineno} reason={kw.value.value!r}"
                for kw in node.keywords
                if kw.arg == "reason" and literal(kw.value)
            ]
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "audit" and node.args and literal(node.args[0]):
                found.append(f"{where}:{node.lineno} audit({node.args[0].value!r}, ...)")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if literal(node.value) and any(named_reason(t) for t in targets):
                found.append(f"{where}:{node.lineno} reason = {node.value.value!r}")
    return found


def test_no_reason_or_event_is_written_as_a_literal():
    found = [
        v
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if REGISTRY not in path.parents
        for v in literals_of_reasons(path, ast.parse(path.read_text()))
    ]
    assert found == []


def test_the_check_finds_what_it_forbids():
    source = (
        "audit('login', user=None, source=None, result='refused', reason='bad_password')\n"
        "raise InvalidCredentials('no', reason='empty_password')\n"
        "class Refused(AuthError):\n    reason = 'not_allowed'\n"
        "reason = 'usable_again'\n"
        "self.reason: str = 'x'\n"
        "audit(reasons.LOGIN, user=None, source=None, result='ok', reason=reasons.API)\n"
    )
    found = literals_of_reasons(PACKAGE_DIR / "example.py", ast.parse(source))
    assert len(found) == 6, found


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_every_reason_built_from_other_values_is_registered():
    built = {cls.reason for cls in _subclasses(errors.AuthError) | {errors.AuthError}}
    built |= set(binding.AD_BIND_REASONS.values())
    # A refused revalidation writes the row's status; a token of that owner is refused
    # as owner_ + the status (auth.revalidation).
    refused = {
        reasons.GONE,
        reasons.NOT_ALLOWED,
        reasons.LOCAL_ADMIN_NAME,
        account_state.DISABLED,
        account_state.LOCKED,
        account_state.EXPIRED,
    }
    built |= refused | {f"owner_{status}" for status in refused | {user_checks.CHECK_FAILED}}
    built.add(binding.ad_bind_reason("80090308: LdapErr: DSID-0C09042A, data 52f, v3839"))
    assert sorted(value for value in built if not reasons.is_reason(value)) == []


def test_every_reason_is_a_label_of_its_own_in_the_login_metric():
    assert [r for r in reasons.REASONS if metrics.bounded_reason(r) != r] == []


def test_every_use_names_a_registered_event_and_one_of_its_results():
    wrong = []
    for reason in reasons.REASONS.values():
        for use in reason.uses:
            event, _, result = use.partition("/")
            if event not in reasons.EVENTS or result not in reasons.EVENTS[event].results:
                wrong.append(f"{reason.value}: {use}")
    assert wrong == []
    listed = {event for events in reasons.SECTIONS.values() for event in events}
    assert listed == set(reasons.EVENTS)
