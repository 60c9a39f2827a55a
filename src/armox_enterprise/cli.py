"""The command line (``python -m armox_enterprise``)."""

from __future__ import annotations

import argparse


def run(argv: list[str]) -> int:
    """Parse ``argv`` and run the chosen command; return the exit code."""
    parser = argparse.ArgumentParser(prog="armox-enterprise", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args = parser.parse_args(argv)
    if args.version:
        from armox_enterprise import __version__

        print(__version__)
        return 0
    parser.print_help()
    return 0
