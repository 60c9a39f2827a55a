"""What can go wrong at the command line, and the exit code each failure maps to."""

from __future__ import annotations

import contextlib
import json
import os
from typing import TextIO

from armox_enterprise.exceptions import EnrolmentRefused, InsufficientCredits

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigurationError",
    "UsageError",
    "report_failure",
    "silence",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ConfigurationError(Exception):
    """The command cannot run as configured: the database URL cannot be used, the database has
    no tables yet, or an optional extra is missing (exit code 2)."""


class UsageError(ConfigurationError):
    """The command was called without something it needs, such as ``--as`` (exit code 2)."""


def report_failure(err: TextIO, exc: Exception, code: int, *, as_json: bool) -> int:
    """Report ``exc`` on ``err`` (as ``error: ...`` or a JSON object) and return ``code``."""
    if not as_json:
        print(f"error: {exc}", file=err)
        return code
    error: dict[str, object] = {"type": type(exc).__name__, "message": str(exc), "exit_code": code}
    if isinstance(exc, InsufficientCredits):
        error.update(available=exc.available, requested=exc.requested, can_request=exc.can_request)
    if isinstance(exc, EnrolmentRefused):
        error["reason"] = exc.reason.value
    print(json.dumps({"error": error}), file=err)
    return code


def silence(stream: TextIO) -> None:
    """Point a closed pipe's descriptor at /dev/null, so the flush at exit does not fail too."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        descriptor = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, descriptor)
        os.close(devnull)
