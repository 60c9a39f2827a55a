"""What a sign-up ended as, and why: the outcomes the enrolment policy reports.

A leaf module (it imports nothing of the package), so the exception tree can name
:class:`EnrolmentReason` without importing the domain.
"""

from __future__ import annotations

import enum

__all__ = ["EnrolmentOutcome", "EnrolmentReason"]


class EnrolmentOutcome(str, enum.Enum):
    """What a sign-up led to."""

    ENROLLED = "enrolled"
    JOIN_REQUESTED = "join_requested"
    NOT_ENROLLED = "not_enrolled"


class EnrolmentReason(str, enum.Enum):
    """Why a sign-up was, or was not, enrolled."""

    DOMAIN_MATCH = "domain_match"
    INVITED = "invited"
    ALREADY_MEMBER = "already_member"
    JOIN_APPROVAL_REQUIRED = "join_approval_required"
    NO_ORGANISATION = "no_organisation"
    FREE_MAIL_PROVIDER = "free_mail_provider"
    DOMAIN_NOT_VERIFIED = "domain_not_verified"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    SEAT_LIMIT_REACHED = "seat_limit_reached"
    INVITATION_REQUIRED = "invitation_required"
    MEMBER_OF_ANOTHER_ORGANISATION = "member_of_another_organisation"
