"""The README and the docs, read as a newcomer would: the README stays short, and every link
and every project path they name leads somewhere."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("deploy/**/*.md"))]
# A README read in five minutes: the rest is in docs/.
README_MAX_BYTES = 12_000
# Folders whose files a page may name; paths under outputs/ or data/ appear only at run time.
PROJECT_FOLDERS = ("pipeline", "components", "bench", "tests", "deploy", "docs", "schemas")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\s]+)`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    lines = prose(page).splitlines()  # a `#` in a code block is no heading
    return {slug(line.lstrip("#")) for line in lines if line.startswith("#")}


def prose(page: Path) -> str:
    return re.sub(r"```.*?```", "", page.read_text(), flags=re.S)


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page)) if not t.startswith(("http", "mailto:"))]


def exists(named: str) -> bool:
    """A path (globs allowed), or a test as pytest names it: `path::test_name`."""
    path, _, test = named.partition("::")
    found = list(ROOT.glob(path))
    return bool(found) and (not test or f"def {test}(" in found[0].read_text())


def named_paths(page: Path) -> list[str]:
    """Paths in backticks under a project folder, placeholders (<...>) left out."""
    return [
        text.rstrip(".,:;")
        for text in CODE.findall(page.read_text())
        if text.split("/")[0] in PROJECT_FOLDERS and "/" in text and "<" not in text
    ]


def test_the_readme_is_read_in_five_minutes():
    assert len(README.read_bytes()) <= README_MAX_BYTES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_to_a_page_and_heading_that_exist(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_project_path_named_exists(page):
    missing = [path for path in named_paths(page) if not exists(path)]
    assert missing == []


def test_the_checks_see_a_broken_link_and_a_missing_path(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\nSee [x](gone.md), [y](#title), [z](#nowhere), `pipeline/gone.py`, "
        "`tests/docs_test.py::test_gone`.\n```\n# not a heading\n```\n"
    )

    assert links(page) == ["gone.md", "#title", "#nowhere"]
    assert anchors(page) == {"title"}
    assert [path for path in named_paths(page) if not exists(path)] == [
        "pipeline/gone.py",
        "tests/docs_test.py::test_gone",
    ]
