"""A member's generations from the shell: ``spend``, and ``holds reserve|capture|release``.

They act as the member (``--as USER``), as the host's own request handlers would, and take the
same idempotency keys: a spend's or reservation's generation id, a capture's or release's
``--key``.  A command run again with the same key says that it was a replay.
"""

from __future__ import annotations

from datetime import timedelta

from armox_enterprise.cli.context import Context
from armox_enterprise.cli.errors import EXIT_OK
from armox_enterprise.cli.rendering import credits, when

__all__ = ["capture_hold", "release_hold", "reserve", "spend"]


def spend(context: Context) -> int:
    """``spend``: spend the acting member's credits on one generation."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    transfer, replayed = context.watched(
        service,
        lambda: service.spend(
            actor,
            org,
            args.amount,
            generation_id=args.generation_id,
            feature=args.feature,
            model=args.model,
        ),
    )
    context.emit_change(
        transfer,
        f"Spent {credits(transfer.amount)} of {actor}'s on generation {args.generation_id} "
        f"({transfer.id}).",
        replayed=replayed,
        key=args.generation_id,
        key_name="generation id",
    )
    return EXIT_OK


def reserve(context: Context) -> int:
    """``holds reserve``: reserve the acting member's credits for a generation that takes time."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    lifetime = None if args.lifetime is None else timedelta(seconds=args.lifetime)
    hold, replayed = context.watched(
        service,
        lambda: service.reserve(
            actor,
            org,
            args.amount,
            generation_id=args.generation_id,
            lifetime=lifetime,
            feature=args.feature,
            model=args.model,
        ),
    )
    context.emit_change(
        hold,
        f"Reserved {credits(hold.amount)} of {actor}'s for generation {args.generation_id}: "
        f"hold {hold.id}, released unless captured by {when(hold.expires_at)}.",
        replayed=replayed,
        key=args.generation_id,
        key_name="generation id",
    )
    return EXIT_OK


def capture_hold(context: Context) -> int:
    """``holds capture``: post all or part of a hold as spent; the rest is released."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    hold, replayed = context.watched(
        service,
        lambda: service.capture_hold(
            actor, org, args.hold_id, args.amount, idempotency_key=args.key
        ),
    )
    released = hold.amount - hold.captured
    context.emit_change(
        hold,
        f"Captured {hold.captured:,} of the {credits(hold.amount)} of hold {hold.id}; "
        f"{released:,} released.",
        replayed=replayed,
        key=args.key,
    )
    return EXIT_OK


def release_hold(context: Context) -> int:
    """``holds release``: void a hold, making its credits available again."""
    service = context.service()
    actor = context.actor()
    args = context.args
    org = context.organisation(service, actor)
    hold, replayed = context.watched(
        service, lambda: service.release_hold(actor, org, args.hold_id, idempotency_key=args.key)
    )
    context.emit_change(
        hold,
        f"Released hold {hold.id}: its {credits(hold.amount)} are no longer reserved.",
        replayed=replayed,
        key=args.key,
    )
    return EXIT_OK
