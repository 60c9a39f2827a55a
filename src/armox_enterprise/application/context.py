"""The context of one use case inside its unit of work, and the ledger moves it makes.

A :class:`Context` is what a use case works with: the unit of work, the instant, the
organisation (in its current period) and who is acting.  It makes the transfers and events
every use case needs, so a use case says what moves, not how a transfer is assembled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import attrs

from armox_enterprise.domain import events as ev
from armox_enterprise.domain.ledger import Transfer, TransferKind, member_of, team_of
from armox_enterprise.domain.organisation import Membership, Organisation
from armox_enterprise.domain.rollover import Movement
from armox_enterprise.domain.values import new_id
from armox_enterprise.exceptions import (
    AccountClosed,
    InsufficientCredits,
    InsufficientPoolCredits,
    InsufficientTeamCredits,
    MemberNotFound,
    credit_amount,
)
from armox_enterprise.ports import UnitOfWork

__all__ = ["SYSTEM", "Context"]

#: The actor of what jobs and period turnovers do.
SYSTEM = ev.SYSTEM_ACTOR

_E = TypeVar("_E", bound=ev.Event)


@attrs.define
class Context:
    """One use case's view of its unit of work.

    Attributes:
        uow: the unit of work everything is read and written through.
        now: the instant the use case runs at.
        org: the organisation, brought into its current period.
        actor: who acts (a user id, or :data:`SYSTEM`).
        membership: the actor's membership, for a member's call.
    """

    uow: UnitOfWork
    now: datetime
    org: Organisation
    actor: str
    membership: Membership | None = None

    def __attrs_post_init__(self) -> None:
        # A unit of work that waited for a lock (SQLite's BEGIN IMMEDIATE) may find the
        # period turned over by another writer after its instant was read: what it books
        # belongs to the period it sees, so its instant is that period's at the earliest.
        self.now = max(self.now, self.org.current_period.start)

    def as_system(self, at: datetime | None = None) -> Context:
        """Return a context on the same unit of work in which the system acts (at ``at``)."""
        return Context(self.uow, self.now if at is None else at, self.org, SYSTEM)

    def transfer(
        self,
        kind: TransferKind,
        debit: str,
        credit: str,
        amount: int,
        *,
        key: str | None = None,
        reference: str | None = None,
        feature: str | None = None,
        model: str | None = None,
    ) -> Transfer:
        """Return a new transfer by the actor, now, in the organisation's current period."""
        return Transfer(
            id=new_id(self.now),
            organisation_id=self.org.id,
            kind=kind,
            debit_account=debit,
            credit_account=credit,
            amount=amount,
            period_index=self.org.current_period_index,
            actor=self.actor,
            created_at=self.now,
            idempotency_key=key,
            reference=reference,
            feature=feature,
            model=model,
        )

    def change_organisation(self, **changes: Any) -> Organisation:
        """Store the organisation with ``changes`` (its fields' new values) and act on it from
        now on; return it.  The caller holds the organisation's row locked."""
        changed = attrs.evolve(self.org, **changes)
        self.uow.organisations.update(changed)
        self.org = changed
        return changed

    def post(self, transfer: Transfer) -> Transfer:
        """Post ``transfer`` to the ledger and return it."""
        self.uow.ledger.post(transfer)
        return transfer

    def move(self, movement: Movement, *, reference: str | None = None) -> Transfer:
        """Post what a domain plan asks for."""
        return self.post(
            self.transfer(
                movement.kind,
                movement.debit,
                movement.credit,
                movement.amount,
                reference=reference,
            )
        )

    def from_pool(self, transfer: Transfer) -> Transfer:
        """Post a transfer out of the pool (or a team's budget) to a member, refusing with the
        pool's (or the team's) own error.

        Raises:
            InsufficientPoolCredits: the pool holds fewer unallocated credits.
            InsufficientTeamCredits: the team's budget holds fewer unallocated credits.
            MemberNotFound: the member's account is closed: they were removed meanwhile (the
                ledger refuses credits from the pool to a closed account).
        """
        try:
            return self.post(transfer)
        except AccountClosed:
            user = member_of(transfer.credit_account)
            raise MemberNotFound(
                f"user {user} is not an active member of the organisation"
            ) from None
        except InsufficientCredits as exc:
            team = team_of(transfer.debit_account)
            if team is not None:
                raise InsufficientTeamCredits(
                    f"team {team}'s budget has {credit_amount(exc.available)} unallocated "
                    f"credits, {credit_amount(transfer.amount)} were asked",
                    available=exc.available,
                    requested=transfer.amount,
                ) from None
            raise InsufficientPoolCredits(
                f"the pool has {credit_amount(exc.available)} unallocated credits, "
                f"{credit_amount(transfer.amount)} were asked",
                available=exc.available,
                requested=transfer.amount,
            ) from None

    def record(self, event_type: type[_E], **fields: Any) -> _E:
        """Record an event of ``event_type`` in the organisation, by the actor, now."""
        event = event_type(
            organisation_id=self.org.id, actor=self.actor, occurred_at=self.now, **fields
        )
        self.uow.record(event)
        return event
