"""docs/embedding.md quotes the example applications, and the quotes have not drifted."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "embedding.md"
EXCERPT = re.compile(r"^``` \{ \.python \}\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)
SOURCES = [ROOT / "examples" / "fastapi_app.py", ROOT / "examples" / "flask_app.py"]


def test_the_page_quotes_code_from_the_examples() -> None:
    """The page shows excerpts of the examples (and so this check has something to check)."""
    assert len(EXCERPT.findall(PAGE.read_text(encoding="utf-8"))) >= 4


def test_every_excerpt_appears_word_for_word_in_an_example() -> None:
    """Each ``{ .python }`` block of the page is a verbatim slice of an example file."""
    sources = [path.read_text(encoding="utf-8") for path in SOURCES]
    excerpts = EXCERPT.findall(PAGE.read_text(encoding="utf-8"))
    assert [e for e in excerpts if not any(e in source for source in sources)] == []
