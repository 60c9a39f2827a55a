"""The command line: ``python -m armox_enterprise`` (or ``armox-enterprise``)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    from armox_enterprise.cli import main as run_command_line

    return run_command_line(argv)


if __name__ == "__main__":
    raise SystemExit(main())
