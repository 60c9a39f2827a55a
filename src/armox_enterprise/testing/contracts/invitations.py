"""The invitations repository's contract: one invitation per organisation and address,
replaced when put again; open ones by address."""

from __future__ import annotations

import attrs

from armox_enterprise.domain.organisation import (
    Invitation,
    Role,
)
from armox_enterprise.domain.values import EmailAddress, new_id
from armox_enterprise.testing.contracts.base import (
    T0,
    ContractBase,
    an_organisation,
    at,
)

__all__ = ["InvitationContract"]


class InvitationContract(ContractBase):
    """The cases of :class:`~armox_enterprise.ports.InvitationRepository`.

    Needs: organisations (for the foreign key) and invitations.
    """

    def test_invitations_put_replace_and_list(self) -> None:
        """Putting an invitation again replaces it; open ones list oldest first per address,
        accepted ones drop out."""
        store, org_id = self._with_organisation()
        other_id = new_id(T0)
        carol = EmailAddress.parse("carol@contractor.example")
        dave = EmailAddress.parse("dave@contractor.example")
        with store.unit_of_work() as uow:
            uow.organisations.add(an_organisation(other_id, name="Beta"))
            uow.invitations.put(Invitation(other_id, carol, Role.MEMBER, "admin", at(2)))
            uow.invitations.put(Invitation(org_id, carol, Role.MEMBER, "admin", at(1)))
            uow.invitations.put(Invitation(org_id, dave, Role.MEMBER, "admin", at(3)))
            uow.commit()
        again = Invitation(org_id, carol, Role.ADMIN, "admin", at(4))
        with store.unit_of_work() as uow:
            uow.invitations.put(again)
            uow.commit()
        with store.unit_of_work() as uow:
            assert [(i.organisation_id, i.role) for i in uow.invitations.open_for(carol)] == [
                (other_id, Role.MEMBER),
                (org_id, Role.ADMIN),
            ]
            assert [i.email for i in uow.invitations.list(org_id)] == [dave, carol]
            uow.invitations.put(attrs.evolve(again, accepted_at=at(5)))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [i.organisation_id for i in uow.invitations.open_for(carol)] == [other_id]
            assert uow.invitations.list(org_id)[-1].accepted_at == at(5)
            assert uow.invitations.open_for(EmailAddress.parse("eve@x.example")) == []
