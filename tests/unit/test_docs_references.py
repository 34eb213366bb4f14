"""References into the docs resolve: the pages are the contract that code and tests cite.

Code, comments, templates and tests point at the behaviour they implement as
``docs/<page>.md`` or ``docs/<page>.md#<section>``; the README links into ``docs/`` with
relative links. A page renamed or a heading reworded would leave those pointing at
nothing, so every such reference must name an existing page and one of its headings
(anchors as MkDocs makes them: ``mkdocs build --strict`` checks the links between the
pages themselves). Nothing may cite the product specification, which is not part of
the repository.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CITING = ("mlflow_ldap_auth", "tests", "benchmarks", "openldap", "templates", "static", ".ci")
SUFFIXES = {".py", ".html", ".js", ".css", ".ini", ".toml", ".ldif", ".md", ""}

_REFERENCE = re.compile(r"docs/((?:[\w-]+/)*[\w-]+\.md)(?:#([\w-]+))?")
_README_LINK = re.compile(r"\]\((docs/[^)#\s]+)(?:#([\w-]+))?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
#: "SPEC §9", "SPEC's AD filter": the specification is not in the repository.
_SPEC = re.compile(r"\bSPEC\b")


def anchor(heading: str) -> str:
    """The id MkDocs (Python-Markdown's ``toc``) gives a heading."""
    text = re.sub(r"[`*_]", "", heading)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {anchor(heading) for heading in _HEADING.findall(text)}


def citing_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "mkdocs.yml"]
    for top in CITING:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    files.remove(Path(__file__).resolve())  # it names what it looks for
    return files


def references() -> list[tuple[str, str, str | None]]:
    """(file, page, anchor) of every reference into docs/ outside docs/."""
    found = []
    for path in citing_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        name = str(path.relative_to(ROOT))
        for match in _REFERENCE.finditer(text):
            found.append((name, match.group(1), match.group(2)))
        if path.name == "README.md":
            for match in _README_LINK.finditer(text):
                found.append((name, match.group(1).removeprefix("docs/"), match.group(2)))
    return found


def test_anchors_are_made_as_mkdocs_makes_them():
    assert anchor("Rotate and revoke") == "rotate-and-revoke"
    assert anchor("The plugin's own paths") == "the-plugins-own-paths"
    assert anchor("Keys of [mlflow]") == "keys-of-mlflow"
    assert anchor("Who has access, and why") == "who-has-access-and-why"


def test_every_reference_into_the_docs_names_a_page_and_one_of_its_sections():
    refs = references()
    assert any(file.startswith("mlflow_ldap_auth") for file, _, _ in refs)
    broken = []
    for file, page, section in refs:
        target = DOCS / page
        if not target.is_file():
            broken.append(f"{file}: docs/{page} does not exist")
        elif section and section not in anchors(target):
            broken.append(f"{file}: docs/{page} has no section #{section}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("top", CITING)
def test_nothing_cites_the_specification(top):
    citing = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in citing_files()
        if path.is_relative_to(ROOT / top)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if _SPEC.search(line)
    ]
    assert not citing, "cite the page of docs/ that states the requirement: " + ", ".join(citing)
