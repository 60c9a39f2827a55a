"""The command line (``python -m armox_enterprise``, installed as ``armox-enterprise``).

``demo`` tells the story of Enterprise accounts on a fresh organisation, step by step: a monthly
pool and a verified company domain, sign-ups, allocations, generations, a member running out and
asking for more, the admin's decisions, the profile and dashboard views, a period turning over,
and the ledger's reconciliation.

The operations commands manage organisations from the shell and run the background jobs:
``migrate`` and ``create-schema``; ``org create``; ``domains add|verify|remove|list``;
``members list|set-role``; ``allocate``, ``reclaim`` and ``top-up``;
``requests list|approve|reject``; ``profile``; ``dashboard``; ``export usage|ledger``;
``periods close-due``; ``ledger verify``; ``events relay``; ``alerts check``.  ``--as USER``
names the acting user, ``--org`` the organisation (by default the acting user's), and
``--json`` prints one JSON document (JSON lines for ``events relay``).

Exit codes: 0 success; 1 a library error, or a ledger that does not reconcile; 2 a usage or
configuration error (bad arguments, a missing extra, a database that cannot be opened);
130 interrupted.

The package, from the bottom up (each module imports only those above it in this list):
``errors`` (exit codes), ``store`` (opening ``--database-url``), ``rendering`` (tables,
numbers, JSON), ``context`` (what a handler runs with), ``commands`` (the handlers, by
concern), ``demo``, ``parser`` (every command and the handler it runs), and this module's
:func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from armox_enterprise import SystemClock
from armox_enterprise.cli.context import Context, Handler
from armox_enterprise.cli.demo import run_demo
from armox_enterprise.cli.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConfigurationError,
    UsageError,
    report_failure,
    silence,
)
from armox_enterprise.cli.parser import build_parser
from armox_enterprise.cli.store import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    MEMORY_URL,
    close,
    open_store,
)
from armox_enterprise.exceptions import ArmoxError
from armox_enterprise.ports import Clock, DnsResolver, Store

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "MEMORY_URL",
    "ConfigurationError",
    "UsageError",
    "main",
    "open_store",
    "run",
    "run_demo",
]

# The name the parser had when the command line was one module; the docs check builds it.
_parser = build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: the process's arguments); return the exit code."""
    return run(sys.argv[1:] if argv is None else argv)


def run(
    argv: Sequence[str],
    *,
    store: Store | None = None,
    dns: DnsResolver | None = None,
    clock: Clock | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Parse ``argv`` (without the program name), run the command, return the exit code.

    The keyword arguments replace what the command would otherwise use, for tests and for
    hosts that run the commands in-process: ``store`` instead of opening ``--database-url``
    (it is not closed), ``dns`` instead of dnspython, ``clock`` instead of the system clock,
    ``stdout`` and ``stderr`` instead of the process's, and ``sleep`` instead of
    :func:`time.sleep` between the polls of ``events relay --follow``.
    """
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    args = _parse(argv, out, err)
    if isinstance(args, int):
        return args
    as_json = bool(getattr(args, "json", False))
    url = str(args.database_url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL)
    try:
        opened = store if store is not None else open_store(url, schema=args.schema)
    except ConfigurationError as exc:
        return report_failure(err, exc, EXIT_USAGE, as_json=as_json)
    context = Context(
        args=args,
        store=opened,
        url=url,
        out=out,
        err=err,
        clock=clock if clock is not None else SystemClock(),
        dns=dns,
        sleep=sleep if sleep is not None else time.sleep,
        # Looked up now, not bound at import: a run_demo set on this package is the one run.
        demo=run_demo,
    )
    try:
        return _execute(args.handler, context)
    finally:
        if store is None:
            close(opened)


def _parse(argv: Sequence[str], out: TextIO, err: TextIO) -> argparse.Namespace | int:
    """Return the parsed arguments, or the exit code when there is no command to run."""
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(list(argv))
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_usage(err)
        print("error: choose a command, e.g. 'demo'", file=err)
        return EXIT_USAGE
    return args


def _execute(handler: Handler, context: Context) -> int:
    """Run ``handler`` and turn what it raises into a message and an exit code."""
    try:
        return handler(context)
    except ConfigurationError as exc:
        return report_failure(context.err, exc, EXIT_USAGE, as_json=context.as_json)
    except ArmoxError as exc:
        return report_failure(context.err, exc, EXIT_ERROR, as_json=context.as_json)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        silence(context.out)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=context.err)
        return EXIT_INTERRUPTED
