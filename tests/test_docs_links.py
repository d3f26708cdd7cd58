"""Every relative link of the README and docs/ points at a file that exists, and its #anchor at a heading.

The docs link instead of repeating a fact (each fact lives in one place), so a heading renamed or a file
moved silently sends a reader nowhere: GitHub shows a broken anchor as the top of the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "benchmarks" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", markdown.read_text(encoding="utf-8"))):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")  # GitHub numbers a repeated heading
    return found


def broken_links(markdown: Path) -> list[str]:
    broken = []
    for target in LINK.findall(FENCE.sub("", markdown.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto: are not checked offline
            continue
        path, _, fragment = target.partition("#")
        linked = (markdown.parent / path).resolve() if path else markdown
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.name}")
    return broken


@pytest.mark.parametrize("markdown", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(markdown: Path) -> None:
    assert broken_links(markdown) == []


def test_a_renamed_heading_or_moved_file_is_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Your data: import, dump\n\ntext\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#your-data-import-dump) [gone](other.md#your-data) [moved](missing.md)\n"
        "```\n[in a code block](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "other.md#your-data: no heading #your-data in other.md",
        "missing.md: no such file",
    ]
