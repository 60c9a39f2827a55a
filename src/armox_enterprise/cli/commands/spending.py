"""A member's generations from the shell: ``spend``, and ``holds reserve|capture|release``.

They act as the member (``--as USER``), as the host's own request handlers would, and take the
same idempotency keys: a spend's or reservation's generation id, a capture's or release's
``--key``.  A command run again with the same key says that it was a replay.
"""

from __future__ import annotations

from datetime import timedelta

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.rendering import credits, when

__all__ = ["capture_hold", "release_hold", "reserve", "spend"]


def spend(context: Context) -> int:
    """``spend``: spend the acting member's credits on one generation."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.spend(
            actor,
            org,
            args.amount,
            generation_id=args.generation_id,
            feature=args.feature,
            model=args.model,
        ),
        lambda transfer, actor: (
            f"Spent {credits(transfer.amount)} of {actor}'s on generation "
            f"{args.generation_id} ({transfer.id})."
        ),
        key=args.generation_id,
        key_name="generation id",
    )


def reserve(context: Context) -> int:
    """``holds reserve``: reserve the acting member's credits for a generation that takes time."""
    args = context.args
    lifetime = None if args.lifetime is None else timedelta(seconds=args.lifetime)
    return context.change(
        lambda service, actor, org: service.reserve(
            actor,
            org,
            args.amount,
            generation_id=args.generation_id,
            lifetime=lifetime,
            feature=args.feature,
            model=args.model,
        ),
        lambda hold, actor: (
            f"Reserved {credits(hold.amount)} of {actor}'s for generation {args.generation_id}: "
            f"hold {hold.id}, released unless captured by {when(hold.expires_at)}."
        ),
        key=args.generation_id,
        key_name="generation id",
    )


def capture_hold(context: Context) -> int:
    """``holds capture``: post all or part of a hold as spent; the rest is released."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.capture_hold(
            actor, org, args.hold_id, args.amount, idempotency_key=args.key
        ),
        lambda hold, _: (
            f"Captured {hold.captured:,} of the {credits(hold.amount)} of hold {hold.id}; "
            f"{hold.amount - hold.captured:,} released."
        ),
        key=args.key,
    )


def release_hold(context: Context) -> int:
    """``holds release``: void a hold, making its credits available again."""
    args = context.args
    return context.change(
        lambda service, actor, org: service.release_hold(
            actor, org, args.hold_id, idempotency_key=args.key
        ),
        lambda hold, _: (
            f"Released hold {hold.id}: its {credits(hold.amount)} are no longer reserved."
        ),
        key=args.key,
    )
