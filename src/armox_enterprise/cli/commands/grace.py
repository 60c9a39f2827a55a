"""The soft limit from the shell: ``grace set`` and ``grace show``.

``grace set CREDITS|PERCENT%|none`` sets the organisation's soft limit: a grace of so many
credits per member and period, or of a percentage of what each member was given, or none;
``grace show`` prints the setting and, for an active member, what they may still spend on
grace this period.
"""

from __future__ import annotations

import argparse

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK
from armox_enterprise.domain.grace import SoftLimit
from armox_enterprise.domain.organisation import Organisation
from armox_enterprise.exceptions import ArmoxError

__all__ = ["parse_soft_limit", "set_grace", "show_grace"]


def parse_soft_limit(text: str) -> SoftLimit | None:
    """The ``CREDITS|PERCENT%|none`` argument: ``none`` for no soft limit, ``10%`` for a
    percentage, else whole credits (the library checks the ranges).

    Raises:
        argparse.ArgumentTypeError: the text is none of the three.
    """
    value = text.strip().lower()
    if value == "none":
        return None
    try:
        if value.endswith("%"):
            return SoftLimit(percent=int(value[:-1]))
        return SoftLimit(credits=int(value))
    except ArmoxError as error:  # the library's own refusal of the range, in its words
        raise argparse.ArgumentTypeError(str(error)) from None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a soft limit is whole credits, a percentage such as 10%, or 'none', not {text!r}"
        ) from None


def _setting(org: Organisation) -> str:
    if org.soft_limit is None:
        return "Soft limit: none (a spend beyond a member's credits is refused)."
    return (
        f"Soft limit: a grace of {org.soft_limit.describe()} per member and period; "
        "the first spend on grace asks the admins for credits."
    )


def set_grace(context: Context) -> int:
    """``grace set``: set the organisation's soft limit, or turn it off."""
    service = context.service()
    actor = context.actor()
    org = context.organisation(service, actor)
    changed = service.set_soft_limit(actor, org, context.args.limit)
    context.emit(changed.soft_limit, [_setting(changed)])
    return EXIT_OK


def show_grace(context: Context) -> int:
    """``grace show``: the soft limit, and what the acting member may still spend on it."""
    service = context.service()
    actor = context.actor()
    org_id = context.organisation(service, actor)
    org = service.get_organisation(actor, org_id)
    lines = [_setting(org)]
    credits = service.profile(actor).credits
    if org.soft_limit is not None and credits is not None:
        left = max(0, credits.grace_allowance - credits.grace_drawn)
        lines.append(
            f"{actor} spent {credits.grace_drawn:,} on grace this period; "
            f"{left:,} of {credits.grace_allowance:,} left."
        )
    context.emit(org.soft_limit, lines)
    return EXIT_OK
