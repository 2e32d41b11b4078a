#!/usr/bin/env python3
"""Checks the README and docs/: the README at most 150 lines and linking every doc of docs/,
no paragraph or list item over 120 words in either (code blocks and tables aside)."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_LINES = 150
PARAGRAPH_WORDS = 120


def paragraphs(text: str):
    """The paragraphs and list items of a markdown text, with the line each starts on."""
    block, start, fenced = [], 0, False
    for number, line in enumerate(text.splitlines() + [""], start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        item = re.match(r"\s*([-*]|\d+\.)\s", line)
        if fenced or not line.strip() or line.startswith(("|", "#")) or item:
            if block:
                yield start, " ".join(block)
            block, start = ([line], number) if item and not fenced else ([], 0)
            continue
        if not block:
            start = number
        block.append(line)


def main() -> int:
    problems = []
    readme = (ROOT / "README.md").read_text()
    if len(readme.splitlines()) > README_LINES:
        problems.append(f"README.md has {len(readme.splitlines())} lines, more than {README_LINES}")
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if f"docs/{doc.name}" not in readme:
            problems.append(f"README.md does not link docs/{doc.name}")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line, paragraph in paragraphs(path.read_text()):
            words = len(paragraph.split())
            if words > PARAGRAPH_WORDS:
                problems.append(f"{path.relative_to(ROOT)}:{line}: a paragraph of {words} words")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
