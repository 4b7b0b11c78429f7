"""The documentation: a short README, and every link in it and in docs/ leads somewhere."""

import re
from urllib.parse import unquote, urlsplit

import pytest
from conftest import REPO

DOCUMENTS = [
    REPO / "README.md",
    REPO / "bench" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]
# [text](target) outside code spans; images and reference-style links are not used here.
LINK = re.compile(r"(?<!`)\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    """The fragment ids GitHub gives the headings of a Markdown file."""
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            ids.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return ids


def links(path):
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return LINK.findall(text)


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_link_resolves(document):
    checked = 0
    for target in links(document):
        url = urlsplit(target)
        if url.scheme in ("http", "https", "mailto"):
            continue
        path = (document.parent / unquote(url.path)).resolve() if url.path else document
        assert path.exists(), f"{document.name}: {target} leads nowhere"
        assert REPO in path.parents or path == REPO, f"{document.name}: {target} leaves the repo"
        if url.fragment:
            assert url.fragment in anchors(path), f"{document.name}: no heading for {target}"
        checked += 1
    if document.name == "README.md" and document.parent == REPO:
        assert checked >= 8  # the README links to each document of docs/
