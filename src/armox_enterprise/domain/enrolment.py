"""The enrolment policy: who a sign-up enrols, and why not.

:func:`decide_enrolment` is a pure function of what the service looked up; it never raises for
a policy outcome, it says what happened and why in an :class:`EnrolmentDecision`.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from armox_enterprise.domain.organisation import (
    DomainClaim,
    Invitation,
    JoinMode,
    Membership,
    Organisation,
)
from armox_enterprise.domain.reasons import EnrolmentOutcome, EnrolmentReason
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
    if existing is not None:
        return _already_member(existing, organisation)
    if organisation is None:
        free = email.domain in free_mail
        return _no(
            EnrolmentReason.FREE_MAIL_PROVIDER if free else EnrolmentReason.NO_ORGANISATION, None
        )
    refusal = _refusal(
        email=email,
        email_verified=email_verified,
        claim=claim,
        organisation=organisation,
        active_seats=active_seats,
        invitation=invitation,
        free_mail=free_mail,
    )
    if refusal is not None:
        return refusal
    if invitation is not None:
        return EnrolmentDecision(
            EnrolmentOutcome.ENROLLED, EnrolmentReason.INVITED, organisation.id
        )
    if organisation.join_mode is JoinMode.REQUEST:
        return EnrolmentDecision(
            EnrolmentOutcome.JOIN_REQUESTED, EnrolmentReason.JOIN_APPROVAL_REQUIRED, organisation.id
        )
    return EnrolmentDecision(
        EnrolmentOutcome.ENROLLED, EnrolmentReason.DOMAIN_MATCH, organisation.id
    )


def _already_member(existing: Membership, organisation: Organisation | None) -> EnrolmentDecision:
    """A user with an active membership stays where they are."""
    if organisation is not None and existing.organisation_id != organisation.id:
        return _no(EnrolmentReason.MEMBER_OF_ANOTHER_ORGANISATION, organisation.id)
    return EnrolmentDecision(
        EnrolmentOutcome.ENROLLED, EnrolmentReason.ALREADY_MEMBER, existing.organisation_id
    )


def _refusal(
    *,
    email: EmailAddress,
    email_verified: bool,
    claim: DomainClaim | None,
    organisation: Organisation,
    active_seats: int,
    invitation: Invitation | None,
    free_mail: FreeMailList,
) -> EnrolmentDecision | None:
    """Why a sign-up the organisation could take is refused, or ``None`` if it is not."""
    if not email_verified:
        return _no(EnrolmentReason.EMAIL_NOT_VERIFIED, organisation.id)
    if invitation is None:
        if claim is None or email.domain in free_mail:
            return _no(EnrolmentReason.NO_ORGANISATION, None)
        if not claim.is_verified:
            return _no(EnrolmentReason.DOMAIN_NOT_VERIFIED, organisation.id)
        if organisation.join_mode is JoinMode.INVITE_ONLY:
            return _no(EnrolmentReason.INVITATION_REQUIRED, organisation.id)
    if organisation.seat_limit is not None and active_seats >= organisation.seat_limit:
        return _no(EnrolmentReason.SEAT_LIMIT_REACHED, organisation.id)
    return None


def _no(reason: EnrolmentReason, org_id: str | None) -> EnrolmentDecision:
    return EnrolmentDecision(EnrolmentOutcome.NOT_ENROLLED, reason, org_id)
