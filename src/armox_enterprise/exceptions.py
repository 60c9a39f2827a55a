"""The errors armox-enterprise raises.

Every error the library raises on purpose derives from :class:`ArmoxError`, so a host can
catch the whole family in one place.  Errors about bad input also derive from the built-in
exception a Python user would expect (``ValueError`` or ``TypeError``).

::

    ArmoxError
    ├── InvalidInput (ValueError)
    │   ├── InvalidAmount
    │   │   └── AmountTypeError (TypeError)
    │   ├── InvalidEmail
    │   ├── InvalidDomain
    │   ├── InvalidText
    │   └── InvalidInstant
    ├── NotFound
    │   ├── OrganisationNotFound
    │   ├── MemberNotFound
    │   ├── DomainNotFound
    │   ├── TransferNotFound
    │   ├── HoldNotFound
    │   ├── CreditRequestNotFound
    │   ├── InvitationNotFound
    │   ├── JoinRequestNotFound
    │   └── TeamNotFound
    ├── PermissionDenied
    ├── Conflict
    │   ├── AlreadyExists
    │   │   ├── DomainAlreadyClaimed
    │   │   └── AlreadyMember
    │   ├── IdempotencyConflict
    │   ├── DuplicateIdempotencyKey
    │   ├── AccountClosed
    │   ├── LastAdminError
    │   ├── InvalidTransition
    │   │   └── HoldAlreadyResolved
    │   ├── TooManyOpenRequests
    │   └── LimitExceeded
    │       └── CapReached
    ├── InsufficientCredits
    │   ├── InsufficientPoolCredits
    │   └── InsufficientTeamCredits
    ├── DomainNotClaimable
    ├── DomainVerificationFailed
    ├── EnrolmentRefused
    └── StorageError
        └── TransientStorageError
            └── CommitOutcomeUnknown

``NotFound`` is also what a caller gets for an organisation it does not belong to: the library
answers as if the organisation did not exist, so ids of other organisations leak nothing.  The
message says so (:meth:`OrganisationNotFound.for_user`): the organisation does not exist *or*
the user is not a member of it, the same words in both cases and on every store.

Messages write amounts of credits with thousands separators (``5,000``), by
:func:`credit_amount`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from armox_enterprise.domain.reasons import EnrolmentReason

__all__ = [
    "AccountClosed",
    "AlreadyExists",
    "AlreadyMember",
    "AmountTypeError",
    "ArmoxError",
    "CapReached",
    "CommitOutcomeUnknown",
    "Conflict",
    "CreditRequestNotFound",
    "DomainAlreadyClaimed",
    "DomainNotClaimable",
    "DomainNotFound",
    "DomainVerificationFailed",
    "DuplicateIdempotencyKey",
    "EnrolmentRefused",
    "HoldAlreadyResolved",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InsufficientPoolCredits",
    "InsufficientTeamCredits",
    "InvalidAmount",
    "InvalidDomain",
    "InvalidEmail",
    "InvalidInput",
    "InvalidInstant",
    "InvalidText",
    "InvalidTransition",
    "InvitationNotFound",
    "JoinRequestNotFound",
    "LastAdminError",
    "LimitExceeded",
    "MemberNotFound",
    "NotFound",
    "OrganisationNotFound",
    "PermissionDenied",
    "StorageError",
    "TeamNotFound",
    "TooManyOpenRequests",
    "TransferNotFound",
    "TransientStorageError",
]


def credit_amount(amount: int) -> str:
    """Write an amount of credits as the library's messages do: ``5,000``."""
    return f"{amount:,}"


class ArmoxError(Exception):
    """Root of every error armox-enterprise raises on purpose."""


class InvalidInput(ArmoxError, ValueError):
    """An argument was malformed, out of range or of the wrong kind."""


class InvalidAmount(InvalidInput):
    """A credit amount is not a positive whole number that fits a signed 64-bit integer."""


class AmountTypeError(InvalidAmount, TypeError):
    """A credit amount is not an ``int`` (bools, floats, strings and decimals are refused)."""


class InvalidEmail(InvalidInput):
    """An email address is malformed or too long."""


class InvalidDomain(InvalidInput):
    """A domain name is malformed or too long."""


class InvalidText(InvalidInput):
    """A name, note, identifier or tag is empty, too long or not a string."""


class InvalidInstant(InvalidInput):
    """An instant is naive (has no timezone) or not a ``datetime``."""


class NotFound(ArmoxError):
    """The thing asked for does not exist, or is not visible to the caller."""


class OrganisationNotFound(NotFound):
    """No such organisation (or the caller does not belong to it)."""

    @classmethod
    def for_user(cls, organisation_id: str, user_id: str | None = None) -> OrganisationNotFound:
        """The one answer for an organisation that does not exist and for one that ``user_id``
        is not an active member of: the message says either may be the case, and nothing
        tells the two apart.  Without a user (a job), the organisation does not exist."""
        if user_id is None:
            return cls(f"organisation {organisation_id} does not exist")
        return cls(
            f"organisation {organisation_id} does not exist, or user {user_id} is not an "
            "active member of it"
        )


class MemberNotFound(NotFound):
    """The user is not an active member of the organisation."""


class DomainNotFound(NotFound):
    """The organisation holds no claim on that domain."""


class TransferNotFound(NotFound):
    """No such transfer in the organisation."""


class HoldNotFound(NotFound):
    """No such hold in the organisation."""


class CreditRequestNotFound(NotFound):
    """No such credit request in the organisation."""


class InvitationNotFound(NotFound):
    """No open invitation for that address in the organisation."""


class JoinRequestNotFound(NotFound):
    """No such join request in the organisation."""


class TeamNotFound(NotFound):
    """No such team in the organisation."""


class PermissionDenied(ArmoxError):
    """The acting user's role does not allow the operation."""


class Conflict(ArmoxError):
    """The operation contradicts the current state."""


class AlreadyExists(Conflict):
    """Something unique already exists."""


class DomainAlreadyClaimed(AlreadyExists):
    """The domain is already claimed by an organisation."""


class AlreadyMember(AlreadyExists):
    """The user already has an active enterprise membership."""


class IdempotencyConflict(Conflict):
    """An idempotency key (or a generation id) was reused for another call.

    The message names the call the key was first used for and what differs (first value and
    this call's, unless the first call was another user's).

    Attributes:
        key: the idempotency key or generation id.
        operation: the service method called now (``"top_up"``, ``"reserve"`` ...).
        first_operation: the service method the key was first used for.
        parameters: the names of the parameters that differ (``("amount",)``); empty when
            the operations differ.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        operation: str | None = None,
        first_operation: str | None = None,
        parameters: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.key = key
        self.operation = operation
        self.first_operation = first_operation
        self.parameters = parameters


class DuplicateIdempotencyKey(Conflict):
    """A store refused a second record under an idempotency key.

    Stores raise it; the service turns it into a replay of the first result (same parameters)
    or an :class:`IdempotencyConflict` (different ones).  Callers of the service never see it.
    """


class AccountClosed(Conflict):
    """A member account whose owner left refuses new spends and holds.

    Stores raise it; the service reports an outsider as
    :class:`OrganisationNotFound` before it gets that far.
    """


class LastAdminError(Conflict):
    """The change would leave the organisation without an active admin."""


class InvalidTransition(Conflict):
    """The object is not in a state that allows the operation (e.g. a decided request)."""


class HoldAlreadyResolved(InvalidTransition):
    """The hold was already captured, released or expired."""


class TooManyOpenRequests(Conflict):
    """The member already has as many pending credit requests as the organisation allows."""


class LimitExceeded(Conflict):
    """The operation would take a balance, counter or total past what the store can hold
    (a signed 64-bit integer), or past a limit the organisation set (:class:`CapReached`);
    nothing was written."""


class CapReached(LimitExceeded):
    """A spend or hold would take the member's spending this period past their cap.

    Not an :class:`InsufficientCredits`: the member may well have the credits, and a credit
    request would not help; only an admin raising the cap (or the next period) does.

    Attributes:
        cap: the member's effective monthly cap.
        spent: what counts against the cap this period (spent and held) before the call.
        requested: what the call asked for.
    """

    def __init__(self, message: str, *, cap: int, spent: int, requested: int) -> None:
        super().__init__(message)
        self.cap = cap
        self.spent = spent
        self.requested = requested


class InsufficientCredits(ArmoxError):
    """An account does not hold enough available credits.

    Attributes:
        available: what the account could give at the time of the call.
        requested: what the call asked for.
        can_request: whether the member may submit a credit request now.
    """

    def __init__(
        self, message: str, *, available: int, requested: int, can_request: bool = False
    ) -> None:
        super().__init__(message)
        self.available = available
        self.requested = requested
        self.can_request = can_request


class InsufficientPoolCredits(InsufficientCredits):
    """The organisation's pool does not hold enough unallocated credits."""


class InsufficientTeamCredits(InsufficientCredits):
    """The team's budget holds fewer unallocated credits than an allocation asked for."""


class DomainNotClaimable(ArmoxError):
    """The domain is a free-mail or disposable provider, or otherwise cannot be claimed."""


class DomainVerificationFailed(ArmoxError):
    """The DNS TXT record proving control of the domain was not found."""


class EnrolmentRefused(ArmoxError):
    """A user could not be enrolled; ``reason`` says why.

    Attributes:
        reason: the :class:`~armox_enterprise.EnrolmentReason` of the refusal.
    """

    def __init__(self, message: str, *, reason: EnrolmentReason) -> None:
        super().__init__(message)
        self.reason = reason


class StorageError(ArmoxError):
    """The store failed in a way the library cannot interpret."""


class TransientStorageError(StorageError):
    """A serialization failure, deadlock or lost connection; the operation may be retried."""


class CommitOutcomeUnknown(TransientStorageError):
    """The connection failed while COMMIT was in flight: the server may or may not have
    committed.  The store has discarded the connection; the service resolves the outcome
    (by the call's idempotency record) before it runs the call again."""
