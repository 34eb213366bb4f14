"""Small modules with one job: no module of the package over 300 lines, no class over 200.

Physical lines, as an editor shows them: docstrings and comments count, since they are
read too. A module or class that outgrows the limit is split by concern (see the code
map in docs/development.md#code-map), not granted an exception; the list below is for a
split under way, each entry with its reason, and an entry no longer needed fails too.
"""

import ast

from package_source import PACKAGE_DIR

MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 200

#: Module (relative to the package) -> why it may be longer for now.
MODULE_EXCEPTIONS: dict[str, str] = {}
#: ``module:Class`` -> why it may be longer for now.
CLASS_EXCEPTIONS = {
    "ldap/directory.py:Directory": "the directory's facade (202 lines): each operation "
    "is a docstring and a line handing it to the part that does it; cutting the facade "
    "in two would leave callers two objects for one directory",
}


def module_lines(text: str) -> int:
    return len(text.splitlines())


def long_classes(tree: ast.AST, limit: int = MAX_CLASS_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every class longer than ``limit``, decorators included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = node.end_lineno - first + 1
            if lines > limit:
                found.append((node.name, lines))
    return found


def package_modules():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield path.relative_to(PACKAGE_DIR).as_posix(), path.read_text()


def test_no_module_is_over_the_limit():
    too_long = {
        name: lines
        for name, text in package_modules()
        if (lines := module_lines(text)) > MAX_MODULE_LINES and name not in MODULE_EXCEPTIONS
    }
    assert too_long == {}, f"split these by concern (limit {MAX_MODULE_LINES} lines)"


def test_no_class_is_over_the_limit():
    too_long = {
        f"{name}:{cls}": lines
        for name, text in package_modules()
        for cls, lines in long_classes(ast.parse(text))
        if f"{name}:{cls}" not in CLASS_EXCEPTIONS
    }
    assert too_long == {}, f"split these by concern (limit {MAX_CLASS_LINES} lines)"


def test_every_exception_is_still_needed():
    sizes = dict((name, module_lines(text)) for name, text in package_modules())
    stale = [name for name in MODULE_EXCEPTIONS if sizes.get(name, 0) <= MAX_MODULE_LINES]
    assert stale == [], "remove these from MODULE_EXCEPTIONS: they are within the limit"
    classes = {
        f"{name}:{cls}"
        for name, text in package_modules()
        for cls, _ in long_classes(ast.parse(text))
    }
    assert [name for name in CLASS_EXCEPTIONS if name not in classes] == [], (
        "remove these from CLASS_EXCEPTIONS: they are within the limit"
    )
    reasons = [*MODULE_EXCEPTIONS.values(), *CLASS_EXCEPTIONS.values()]
    assert all(reason.strip() for reason in reasons)


def test_the_check_counts_what_it_forbids():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_CLASS_LINES))
    source = f"@decorated\nclass Long:\n{body}\n\n\nclass Short:\n    pass\n"
    assert long_classes(ast.parse(source)) == [("Long", MAX_CLASS_LINES + 2)]
    assert module_lines(source) == MAX_CLASS_LINES + 6
    assert module_lines("a = 1\n\n") == 2
