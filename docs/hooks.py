"""MkDocs hook: render the reStructuredText left in docstrings as plain Markdown output.

The docstrings use Google sections, which mkdocstrings parses, but also Sphinx roles such as
``:class:`~armox_enterprise.MemoryStore``` and ``::`` before literal blocks.  On the API
reference pages, a role becomes plain code (``~`` keeps only the last name, as in Sphinx), a
paragraph's closing ``::`` becomes ``:``, an escaped space after code (``\\ s``) goes, and an
external link written the reStructuredText way (text and URL in backquotes, then ``_``) becomes
a link.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>(~?)([^<]*)</code>")
_LITERAL_INTRO = re.compile(r"::</p>")
_ESCAPED_SPACE = re.compile(r"</code>\\ ")
_LINK = re.compile(r"<code>([^<]*?) &lt;(https?://[^&<]+)&gt;</code>_")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, page: Any, **_: Any) -> str:
    """Rewrite the reference pages' HTML; leave the guides as they are."""
    if not page.file.src_uri.startswith("reference/"):
        return html
    html = _ROLE.sub(_role, html)
    html = _LINK.sub(r'<a href="\2">\1</a>', html)
    html = _LITERAL_INTRO.sub(":</p>", html)
    return _ESCAPED_SPACE.sub("</code>", html)
