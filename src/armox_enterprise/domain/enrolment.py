"""The enrolment policy: who a sign-up enrols, and why not.

:func:`decide_enrolment` is a pure function of what the service looked up; it never raises for
a policy outcome, it says what happened and why in an :class:`EnrolmentDecision`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    Membership,
    Organisation,
)
from armox_enterprise.domain.values import DomainName, EmailAddress

__all__ = [
    "FREE_MAIL_PROVIDERS",
    "EnrolmentDecision",
    "EnrolmentOutcome",
    "EnrolmentReason",
    "FreeMailList",
    "decide_enrolment",
]

#: Free-mail and disposable providers whose domains can never be claimed (Brazil's included).
FREE_MAIL_PROVIDERS: frozenset[str] = frozenset(
    {
        # international
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "rocketmail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "live.com",
        "msn.com",
        "passport.com",
        "aol.com",
        "aim.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "tutanota.com",
        "tuta.io",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "mail.com",
        "zoho.com",
        "zohomail.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "inbox.ru",
        "list.ru",
        "bk.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "fastmail.com",
        "hey.com",
        "libero.it",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "t-online.de",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "rediffmail.com",
        "hushmail.com",
        # Brazil
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        "globo.com",
        "globomail.com",
        "oi.com.br",
        "r7.com",
        "zipmail.com.br",
        "hotmail.com.br",
        "yahoo.com.br",
        "outlook.com.br",
        "sercomtel.com.br",
        "pop.com.br",
        "itelefonica.com.br",
        "brturbo.com.br",
        "click21.com.br",
        "superig.com.br",
        # disposable
        "mailinator.com",
        "guerrillamail.com",
        "guerrillamail.net",
        "10minutemail.com",
        "tempmail.com",
        "temp-mail.org",
        "yopmail.com",
        "trashmail.com",
        "sharklasers.com",
        "getnada.com",
        "dispostable.com",
        "throwawaymail.com",
        "maildrop.cc",
        "mailnesia.com",
        "fakeinbox.com",
        "emailondeck.com",
        "mintemail.com",
    }
)


@attrs.frozen
class FreeMailList:
    """The providers whose domains can never be claimed: the bundled list plus the host's.

    A domain is refused if it, or any domain it sits under, is on the list.
    """

    extra: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "extra", frozenset(DomainName.parse(d).value for d in self.extra))

    def with_extra(self, domains: Iterable[str]) -> FreeMailList:
        """Return a list extended with the host's own ``domains``."""
        return FreeMailList(self.extra | frozenset(domains))

    def __contains__(self, domain: object) -> bool:
        if not isinstance(domain, DomainName):
            return False
        names = [domain, *domain.parents()]
        return any(n.value in FREE_MAIL_PROVIDERS or n.value in self.extra for n in names)


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


@attrs.frozen
class EnrolmentDecision:
    """The result of a sign-up: what happened, why, and in which organisation."""

    outcome: EnrolmentOutcome
    reason: EnrolmentReason
    organisation_id: str | None = None

    @property
    def enrolled(self) -> bool:
        """Whether the user is now an active member."""
        return self.outcome is EnrolmentOutcome.ENROLLED


def decide_enrolment(
    *,
    email: EmailAddress,
    email_verified: bool,
    claim: DomainClaim | None,
    organisation: Organisation | None,
    active_seats: int,
    existing: Membership | None,
    invitation: Invitation | None,
    free_mail: FreeMailList,
) -> EnrolmentDecision:
    """Decide what a sign-up with ``email`` leads to.

    Args:
        email: the user's address.
        email_verified: whether the host verified that the user controls the address.
        claim: the claim covering the address's domain, if any organisation holds one.
        organisation: the claiming organisation (or the inviting one).
        active_seats: how many active members that organisation has.
        existing: the user's active membership, if any.
        invitation: an open invitation of the address to ``organisation``, if any.
        free_mail: the providers that never enrol by domain.
    """
    org_id = organisation.id if organisation is not None else None
    if existing is not None:
        if org_id is not None and existing.organisation_id != org_id:
            return _no(EnrolmentReason.MEMBER_OF_ANOTHER_ORGANISATION, org_id)
        return EnrolmentDecision(
            EnrolmentOutcome.ENROLLED, EnrolmentReason.ALREADY_MEMBER, existing.organisation_id
        )
    if organisation is None:
        if email.domain in free_mail:
            return _no(EnrolmentReason.FREE_MAIL_PROVIDER, None)
        return _no(EnrolmentReason.NO_ORGANISATION, None)
    if not email_verified:
        return _no(EnrolmentReason.EMAIL_NOT_VERIFIED, org_id)
    if invitation is None:
        if claim is None or email.domain in free_mail:
            return _no(EnrolmentReason.NO_ORGANISATION, None)
        if not claim.is_verified:
            return _no(EnrolmentReason.DOMAIN_NOT_VERIFIED, org_id)
        if organisation.join_mode is JoinMode.INVITE_ONLY:
            return _no(EnrolmentReason.INVITATION_REQUIRED, org_id)
    if organisation.seat_limit is not None and active_seats >= organisation.seat_limit:
        return _no(EnrolmentReason.SEAT_LIMIT_REACHED, org_id)
    if invitation is not None:
        return EnrolmentDecision(EnrolmentOutcome.ENROLLED, EnrolmentReason.INVITED, org_id)
    if organisation.join_mode is JoinMode.REQUEST:
        return EnrolmentDecision(
            EnrolmentOutcome.JOIN_REQUESTED, EnrolmentReason.JOIN_APPROVAL_REQUIRED, org_id
        )
    return EnrolmentDecision(EnrolmentOutcome.ENROLLED, EnrolmentReason.DOMAIN_MATCH, org_id)


def _no(reason: EnrolmentReason, org_id: str | None) -> EnrolmentDecision:
    return EnrolmentDecision(EnrolmentOutcome.NOT_ENROLLED, reason, org_id)
