"""The example applications under ``examples/``, importable by their file names.

The ``examples`` nox session installs FastAPI, httpx and Flask (the ``examples`` dependency
group); the ``tests`` sessions do not collect this folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
