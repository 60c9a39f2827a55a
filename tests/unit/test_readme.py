"""The README: its Python examples run exactly as written, and its commands are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

DEMO_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[sqlalchemy]' "
    "&& .venv/bin/python -m armox_enterprise demo"
)
TEST_COMMAND = "pip install nox && nox"


def python_blocks(markdown: str) -> list[str]:
    """Return the bodies of the fenced ```python blocks of ``markdown``, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def test_readme_examples_run_as_written() -> None:
    """Every ```python block of the README runs, in order, in one namespace."""
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md has no ```python example"
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"README.md (python block {number})", "exec"), namespace)


def test_readme_quickstart_reaches_the_profile_view() -> None:
    """The quickstart ends with the member's profile, built from real calls."""
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in python_blocks(README.read_text(encoding="utf-8")):
        exec(compile(block, "README.md", "exec"), namespace)
    profile = namespace["profile"]
    assert getattr(profile, "is_enterprise", False) is True


def test_readme_gives_the_two_newcomer_commands_verbatim() -> None:
    """The demo and test commands appear exactly as a newcomer must type them."""
    text = README.read_text(encoding="utf-8")
    assert f"```sh\n{DEMO_COMMAND}\n```" in text
    assert f"```sh\n{TEST_COMMAND}\n```" in text
