"""What people look at: ``profile``, ``dashboard``, and the CSV ``export`` of usage and ledger."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK, ConfigurationError
from armox_enterprise.cli.rendering import Progress, dashboard_lines, isatty, profile_lines

__all__ = ["dashboard", "export", "profile"]


def profile(context: Context) -> int:
    """``profile``: what the user's profile page shows."""
    view = context.service().profile(context.args.user)
    context.emit(view, profile_lines(view))
    return EXIT_OK


def dashboard(context: Context) -> int:
    """``dashboard``: the admin dashboard, one page of members at a time."""
    service = context.service()
    actor = context.actor()
    args = context.args
    board = service.dashboard(
        actor,
        context.organisation(service, actor),
        sort=args.sort,
        descending=args.desc,
        offset=(args.page - 1) * args.page_size,
        limit=args.page_size,
    )
    context.emit(board, dashboard_lines(board))
    return EXIT_OK


def export(context: Context) -> int:
    """``export usage`` and ``export ledger``: CSV on stdout, or into ``--output``."""
    service = context.service()
    actor = context.actor()
    args = context.args
    kind = str(args.action)
    org = context.organisation(service, actor)
    if kind == "usage":
        lines = service.export_usage_csv(
            actor,
            org,
            first_period=args.first_period,
            last_period=args.last_period,
            user_id=args.user,
        )
    else:
        lines = service.export_ledger_csv(
            actor, org, first_period=args.first_period, last_period=args.last_period
        )
    label = f"exporting {kind}"
    output: Path | None = args.output
    with contextlib.closing(lines):
        if output is None:
            # On a terminal, a progress line would break into the CSV shown on it.
            progress = context.progress(label, "rows", wanted=not isatty(context.out))
            _copy_csv(lines, context.out, progress)
            return EXIT_OK
        rows = _export_to_file(lines, output, context.progress(label, "rows"))
    context.emit(
        {"export": kind, "output": str(output), "rows": rows},
        [f"Wrote {rows:,} {kind} row{'' if rows == 1 else 's'} to {output}."],
    )
    return EXIT_OK


def _copy_csv(lines: Iterator[str], sink: TextIO, progress: Progress) -> int:
    """Write the header and the rows of ``lines`` to ``sink``; return how many rows."""
    header = next(lines, None)
    if header is not None:
        sink.write(header)
    for line in lines:
        sink.write(line)
        progress.advance()
    sink.flush()
    progress.finish()
    return progress.count


def _export_to_file(lines: Iterator[str], output: Path, progress: Progress) -> int:
    """Write the export beside ``output`` and move it there once complete."""
    partial = output.with_name(f"{output.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {output}: {exc.strerror or exc}") from exc
    try:
        with handle:
            rows = _copy_csv(lines, handle, progress)
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows
