"""armox-enterprise: Enterprise accounts for an AI-generation product.

An organisation's monthly credit pool, admins who allocate it, members who spend it on
generations and ask for more, automatic enrolment by company email domain, and the profile and
dashboard views.  Start with :class:`EnterpriseService` on a :class:`MemoryStore` or on the
SQLAlchemy store (``armox_enterprise.adapters.sqlalchemy``, behind the ``sqlalchemy`` extra).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from armox_enterprise.adapters.memory import MemoryStore
from armox_enterprise.aio import AsyncEnterpriseService
from armox_enterprise.application.runner import ReplayWatch, watch_replays
from armox_enterprise.domain.alerts import AlertThresholds
from armox_enterprise.domain.caps import CapStatus
from armox_enterprise.domain.claims import RECHECK_GRACE, RecheckReport
from armox_enterprise.domain.directory import DirectoryResult, DirectoryUser
from armox_enterprise.domain.enrolment import (
    EnrolmentDecision,
    EnrolmentOutcome,
    EnrolmentReason,
    FreeMailList,
)
from armox_enterprise.domain.events import Event
from armox_enterprise.domain.grace import SoftLimit
from armox_enterprise.domain.ledger import Account, Hold, HoldStatus, Transfer, TransferKind
from armox_enterprise.domain.organisation import (
    DomainClaim,
    DomainStatus,
    Invitation,
    JoinMode,
    JoinRequest,
    MemberRemainder,
    Membership,
    Organisation,
    Role,
    RolloverPolicy,
)
from armox_enterprise.domain.periods import BillingPeriod
from armox_enterprise.domain.requests import CreditRequest, RequestStatus
from armox_enterprise.domain.teams import Team, TeamMember
from armox_enterprise.domain.values import MAX_CREDITS, DomainName, EmailAddress
from armox_enterprise.exceptions import (
    AlreadyExists,
    AlreadyMember,
    AmountTypeError,
    ArmoxError,
    CapReached,
    CommitOutcomeUnknown,
    Conflict,
    CreditRequestNotFound,
    DomainAlreadyClaimed,
    DomainNotClaimable,
    DomainNotFound,
    DomainVerificationFailed,
    EnrolmentRefused,
    HoldAlreadyResolved,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientCredits,
    InsufficientPoolCredits,
    InsufficientTeamCredits,
    InvalidAmount,
    InvalidDomain,
    InvalidEmail,
    InvalidInput,
    InvalidInstant,
    InvalidText,
    InvalidTransition,
    InvitationNotFound,
    JoinRequestNotFound,
    LastAdminError,
    LimitExceeded,
    MemberNotFound,
    NotFound,
    OrganisationNotFound,
    PermissionDenied,
    StorageError,
    TeamNotFound,
    TooManyOpenRequests,
    TransferNotFound,
    TransientStorageError,
)
from armox_enterprise.ports import UsageGrouping, UsageRow
from armox_enterprise.serialise import dumps, to_json
from armox_enterprise.service import NO_SEAT_LIMIT, EnterpriseService, ExistingUser, SystemClock
from armox_enterprise.views import (
    Dashboard,
    EnterpriseCredits,
    MemberRow,
    PoolFigures,
    ProfileView,
    RequestStatistics,
    TeamRow,
)

try:
    __version__ = version("armox-enterprise")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "MAX_CREDITS",
    "NO_SEAT_LIMIT",
    "RECHECK_GRACE",
    "Account",
    "AlertThresholds",
    "AlreadyExists",
    "AlreadyMember",
    "AmountTypeError",
    "ArmoxError",
    "AsyncEnterpriseService",
    "BillingPeriod",
    "CapReached",
    "CapStatus",
    "CommitOutcomeUnknown",
    "Conflict",
    "CreditRequest",
    "CreditRequestNotFound",
    "Dashboard",
    "DirectoryResult",
    "DirectoryUser",
    "DomainAlreadyClaimed",
    "DomainClaim",
    "DomainName",
    "DomainNotClaimable",
    "DomainNotFound",
    "DomainStatus",
    "DomainVerificationFailed",
    "EmailAddress",
    "EnrolmentDecision",
    "EnrolmentOutcome",
    "EnrolmentReason",
    "EnrolmentRefused",
    "EnterpriseCredits",
    "EnterpriseService",
    "Event",
    "ExistingUser",
    "FreeMailList",
    "Hold",
    "HoldAlreadyResolved",
    "HoldNotFound",
    "HoldStatus",
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
    "Invitation",
    "InvitationNotFound",
    "JoinMode",
    "JoinRequest",
    "JoinRequestNotFound",
    "LastAdminError",
    "LimitExceeded",
    "MemberNotFound",
    "MemberRemainder",
    "MemberRow",
    "Membership",
    "MemoryStore",
    "NotFound",
    "Organisation",
    "OrganisationNotFound",
    "PermissionDenied",
    "PoolFigures",
    "ProfileView",
    "RecheckReport",
    "ReplayWatch",
    "RequestStatistics",
    "RequestStatus",
    "Role",
    "RolloverPolicy",
    "SoftLimit",
    "StorageError",
    "SystemClock",
    "Team",
    "TeamMember",
    "TeamNotFound",
    "TeamRow",
    "TooManyOpenRequests",
    "Transfer",
    "TransferKind",
    "TransferNotFound",
    "TransientStorageError",
    "UsageGrouping",
    "UsageRow",
    "__version__",
    "dumps",
    "to_json",
    "watch_replays",
]
