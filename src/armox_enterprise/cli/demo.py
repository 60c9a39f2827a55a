"""The demo: the Enterprise-accounts story told step by step on a fresh organisation.

It runs on its own clock and DNS records, not the system's: a fixed start makes every run print
the same dates, and the TXT record it publishes is found without a name server.  Its
organisation counts its periods in Asia/Kolkata, from local midnight, so the story shows the
local boundaries beside the UTC instants the library stores.  So what it
leaves in a database is a demo at a fixed date, and it says so: on the real clock, the other
commands find its organisations many periods behind, and turn them over to the present.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TextIO
from zoneinfo import ZoneInfo

from armox_enterprise import EnterpriseService, SoftLimit
from armox_enterprise.cli.errors import EXIT_ERROR, EXIT_OK
from armox_enterprise.cli.rendering import credits_line, member_summary, when
from armox_enterprise.cli.store import MEMORY_URL, masked
from armox_enterprise.domain.events import CreditRequestDecided, Event, PeriodClosed, PeriodOpened
from armox_enterprise.domain.periods import valid_through
from armox_enterprise.exceptions import DomainNotClaimable, InsufficientCredits
from armox_enterprise.ports import Store
from armox_enterprise.views import Dashboard

__all__ = ["run_demo"]

# The demo's clock starts on the 31st so the first period shows the anchor day clamped to
# February's last day.
_DEMO_START = datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc)
_ALLOWANCE = 10_000
# The organisation's zone, 5:30 ahead of UTC: its local midnight is 18:30 UTC the day before.
# Its periods are anchored at local midnight on the clock's local day, the 31st.
_ZONE = "Asia/Kolkata"
_ANCHOR = datetime(2026, 1, 31, tzinfo=ZoneInfo(_ZONE))


def _local(instant: datetime) -> str:
    """Return ``instant`` to the minute in the demo organisation's zone."""
    return f"{instant.astimezone(ZoneInfo(_ZONE)):%Y-%m-%d %H:%M} {_ZONE}"


class _DemoClock:
    """The story's clock: it stands still until the story moves it (a ``Clock``)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """Return the story's current instant (aware, UTC)."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant``."""
        self._now = instant.astimezone(timezone.utc)


class _DemoDns:
    """The TXT records the story publishes, answered from a dictionary (a ``DnsResolver``)."""

    def __init__(self) -> None:
        self._records: dict[str, list[str]] = {}

    def publish(self, domain: str, value: str) -> None:
        """Publish the TXT record ``value`` on ``domain``."""
        self._records.setdefault(domain.strip().rstrip(".").lower(), []).append(value)

    def txt_records(self, domain: str) -> Sequence[str]:
        """Return the TXT records published on ``domain``."""
        return list(self._records.get(domain, ()))


class _Story:
    """Prints the demo as numbered steps with indented lines."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._steps = 0

    def step(self, title: str) -> None:
        """Start the next numbered step."""
        self._steps += 1
        print(f"\n{self._steps}. {title}", file=self._out)

    def say(self, line: str = "") -> None:
        """Print a line of the current step, indented under its title."""
        print(f"   {line}".rstrip(), file=self._out)


def run_demo(
    store: Store, out: TextIO, *, database_url: str = MEMORY_URL, run_id: str | None = None
) -> int:
    """Tell the Enterprise-accounts story on ``store``, printing it to ``out``.

    Every run creates its own organisation, domain and users (suffixed with ``run_id``, random
    by default), so it can run again and again on the same database.

    Returns:
        0 when the ledger reconciles at the end, 1 when it does not.

    Raises:
        ArmoxError: a call of the library failed unexpectedly.
    """
    demo = _Demo(store, out, run_id or secrets.token_hex(3))
    print(f"armox-enterprise demo (run {demo.run_id}, store {masked(database_url)})", file=out)
    print(
        f"The demo runs on a clock of its own, from {when(_DEMO_START)}, not on the real one.",
        file=out,
    )
    demo.organisation()
    demo.domain()
    demo.sign_ups()
    demo.allocations()
    demo.generations()
    demo.running_out()
    demo.decisions()
    demo.profiles()
    demo.dashboard()
    demo.turnover()
    demo.team()
    demo.limits()
    if not demo.reconciliation():
        return EXIT_ERROR
    if database_url == MEMORY_URL:
        print("\nDone. The memory store is discarded on exit.", file=out)
        return EXIT_OK
    print(
        f"\nDone. The data stays in {masked(database_url)}; each run adds its own organisation.",
        file=out,
    )
    print(
        f"It is demo data dated by the demo's clock ({when(_DEMO_START)} to "
        f"{when(demo.clock.now())}): the other commands run on the real clock, so the first of "
        "them to touch its organisation turns it over every period since.",
        file=out,
    )
    return EXIT_OK


class _Demo:
    """The demo's cast and state; one method per step of the story."""

    def __init__(self, store: Store, out: TextIO, run_id: str) -> None:
        self.run_id = run_id
        self.clock = _DemoClock(_DEMO_START)
        self.dns = _DemoDns()
        self.service = EnterpriseService(store, clock=self.clock, dns=self.dns)
        self.events: list[Event] = []
        self.service.subscribe(self.events.append)
        self.story = _Story(out)
        self.domain_name = f"acme-{run_id}.example"
        self.ana, self.bruno, self.carla, self.dani = (
            f"{name}-{run_id}" for name in ("ana", "bruno", "carla", "dani")
        )
        self.names = {self.ana: "Ana", self.bruno: "Bruno", self.carla: "Carla"}
        self.org_id = ""
        self.carla_request = ""
        self.bruno_request = ""

    def say(self, line: str = "") -> None:
        self.story.say(line)

    def board(self) -> Dashboard:
        return self.service.dashboard(self.ana, self.org_id)

    def organisation(self) -> None:
        self.story.step("An organisation with a monthly pool")
        org = self.service.create_organisation(
            name=f"Acme {self.run_id}",
            admin_user_id=self.ana,
            admin_email=f"ana@{self.domain_name}",
            admin_display_name="Ana",
            monthly_allowance=_ALLOWANCE,
            cycle_anchor=_ANCHOR,
            time_zone=_ZONE,
        )
        self.org_id = org.id
        period = org.current_period
        self.say(f"Organisation {org.name!r} created; Ana ({self.ana}) is its admin.")
        self.say(f"Monthly allowance: {_ALLOWANCE:,} credits, granted to the pool each period.")
        self.say(f"Time zone {org.time_zone}: periods start at local midnight on the 31st.")
        self.say(f"Period {period.index}: {_local(period.start)} to {_local(period.end)}")
        self.say(f"  in UTC: {when(period.start)} to {when(period.end)}")
        self.say(
            f"  valid through {valid_through(period, org.time_zone).isoformat()} (local): "
            "February has no 31st, so the next period starts on the 28th"
        )
        self.say(f"Pool: {self.board().pool.unallocated:,} credits unallocated.")

    def domain(self) -> None:
        self.story.step("A verified company domain")
        claim = self.service.claim_domain(self.ana, self.org_id, self.domain_name)
        self.say(f"Ana claims {claim.domain}; a claim enrols nobody until it is verified.")
        self.say(f"DNS TXT record to publish: {claim.txt_record}")
        self.dns.publish(self.domain_name, claim.txt_record)
        claim = self.service.verify_domain(self.ana, self.org_id, self.domain_name)
        self.say(f"Record found: {claim.domain} verified at {when(claim.verified_at)}.")
        try:
            self.service.claim_domain(self.ana, self.org_id, "gmail.com")
        except DomainNotClaimable:
            self.say("Claiming gmail.com is refused (DomainNotClaimable): a free-mail provider.")

    def sign_ups(self) -> None:
        self.story.step("Employees sign up (the host calls sign_up)")
        domain = self.domain_name
        people = [
            (self.bruno, f"bruno@{domain}", True, "Bruno"),
            (self.carla, f"Carla@{domain.upper()}", True, "Carla"),
            (self.dani, "dani@gmail.com", True, "Dani"),
            (f"edu-{self.run_id}", "edu@bol.com.br", True, "Edu"),
            (f"fabi-{self.run_id}", f"fabi@{domain}", False, "Fabi"),
            (f"gus-{self.run_id}", "gus@globex.example", True, "Gus"),
        ]
        width = max(len(email) for _, email, _, _ in people)
        for user, email, verified, name in people:
            decision = self.service.sign_up(user, email, email_verified=verified, display_name=name)
            state = "verified" if verified else "unverified"
            self.say(
                f"{email.ljust(width)}  {state:<10}  -> {decision.outcome.value} "
                f"({decision.reason.value})"
            )

    def allocations(self) -> None:
        self.story.step("The admin allocates credits from the pool")
        self.service.allocate_credits(self.ana, self.org_id, self.bruno, 3_000)
        self.service.allocate_credits(self.ana, self.org_id, self.carla, 1_000)
        self.service.set_standing_allotment(self.ana, self.org_id, self.bruno, 2_000)
        self.say("Ana allocates 3,000 credits to Bruno and 1,000 to Carla for this period,")
        self.say("and gives Bruno a standing allotment of 2,000, re-issued at each period opening.")
        self.say(f"Pool: {self.board().pool.unallocated:,} credits unallocated.")

    def generations(self) -> None:
        self.story.step("Members generate")
        spend = self.service.spend
        first = spend(self.bruno, self.org_id, 400, generation_id="gen-1", feature="image")
        self.say(f"Bruno's image gen-1 spends 400 credits (transfer {first.id}).")
        again = spend(self.bruno, self.org_id, 400, generation_id="gen-1", feature="image")
        replayed = "the same transfer" if again.id == first.id else "a NEW transfer"
        self.say(f"His client retries gen-1: it gets {replayed} back; nothing is charged twice.")
        spend(self.bruno, self.org_id, 250, generation_id="gen-2", feature="image")
        self.say("Bruno's image gen-2 spends 250 credits.")
        hold = self.service.reserve(
            self.carla, self.org_id, 600, generation_id="gen-3", feature="video"
        )
        self.say(f"Carla's video gen-3 takes a while: it reserves 600 credits (hold {hold.id})")
        done = self.service.capture_hold(self.carla, self.org_id, hold.id, 450)
        released = done.amount - done.captured
        self.say(f"It finishes: {done.captured:,} are captured, the other {released:,} released.")
        left = {self.names[row.user_id]: row.remaining for row in self.board().members}
        self.say(f"Remaining: Bruno {left['Bruno']:,}, Carla {left['Carla']:,}.")

    def running_out(self) -> None:
        self.story.step("A member runs out and asks for more")
        try:
            self.service.spend(self.carla, self.org_id, 800, generation_id="gen-4", feature="video")
        except InsufficientCredits as exc:
            self.say("Carla's video gen-4 needs 800 credits and is refused:")
            self.say(
                f"  InsufficientCredits(available={exc.available:,}, "
                f"requested={exc.requested:,}, can_request={exc.can_request})"
            )
        request = self.service.request_credits(
            self.carla, self.org_id, 1_000, note="Video campaign for the launch"
        )
        self.carla_request = request.id
        self.say(f"Carla requests {request.amount:,} credits: {request.status.value}.")
        request = self.service.request_credits(self.bruno, self.org_id, 5_000, note="Just in case")
        self.bruno_request = request.id
        self.say(
            f"Bruno requests {request.amount:,} credits, just in case: {request.status.value}."
        )

    def decisions(self) -> None:
        self.story.step("The admin decides")
        approved = self.service.approve_request(
            self.ana, self.org_id, self.carla_request, amount=500, note="500 for now"
        )
        self.say(
            f"Ana approves Carla's request for {approved.approved_amount or 0:,} of the "
            f"{approved.amount:,} asked: {approved.status.value}; the pool pays it at once."
        )
        rejected = self.service.reject_request(
            self.ana, self.org_id, self.bruno_request, note="You still have 2,350 credits"
        )
        self.say(f"Ana rejects Bruno's: {rejected.status.value} ({rejected.decision_note!r}).")
        self.service.spend(self.carla, self.org_id, 800, generation_id="gen-4", feature="video")
        self.say("Carla retries gen-4: 800 credits spent.")
        later = self.service.request_credits(self.bruno, self.org_id, 300, note="A few more images")
        self.say(f"Bruno asks again, for {later.amount:,}; nobody decides before the period ends.")

    def profiles(self) -> None:
        self.story.step("What members see: the profile view")
        for user in (self.carla, self.bruno):
            profile = self.service.profile(user)
            section = profile.credits
            if section is None:  # pragma: no cover - both are members
                continue
            button = (
                "enabled" if section.can_request else f"disabled ({section.request_blocked_reason})"
            )
            self.say(f"{self.names[user]}: Enterprise badge {profile.badge!r}")
            self.say(f"  Enterprise Credits: {credits_line(section)}")
            self.say(
                f"  valid through {section.valid_through.isoformat()} ({section.time_zone}); "
                f"resets at local midnight, {when(section.resets_at)}"
            )
            self.say(f"  request button {button}")
            self.say(f"  subscription management hidden: {profile.subscription_management_hidden}")
        outsider = self.service.profile(self.dani)
        self.say(
            f"Dani (signed up with gmail.com): is_enterprise={outsider.is_enterprise}; "
            "the host shows its usual page."
        )

    def dashboard(self) -> None:
        self.story.step("What the admin sees: the dashboard")
        board = self.board()
        pool = board.pool
        self.say(
            f"Pool, period {pool.period_index}: granted {pool.granted:,} | allocated "
            f"{pool.allocated:,} | unallocated {pool.unallocated:,} | used {pool.used:,} "
            f"({pool.utilisation:.0%})"
        )
        for line in member_summary(board):
            self.say(f"  {line}")
        for request in board.pending_requests:
            self.say(
                f"Pending: {self.names[request.user_id]} asks for {request.amount:,} "
                f"({request.note!r})."
            )

    def turnover(self) -> None:
        self.story.step("The period turns over")
        before = self.board()
        unspent = sum(row.remaining for row in before.members)
        self.clock.set(before.pool.resets_at + timedelta(minutes=1))
        self.events.clear()
        turned = self.service.close_due_periods()
        self.say(f"The clock moves to {when(self.clock.now())} ({_local(self.clock.now())}),")
        self.say("past the period's end at local midnight, and the period job (close_due_periods)")
        self.say(
            "turns the organisation over" + ("." if self.org_id in turned else ": it already had.")
        )
        for event in self.events:
            if event.organisation_id != self.org_id:
                continue
            if isinstance(event, CreditRequestDecided):
                who = self.names.get(event.user_id, event.user_id)
                self.say(f"{who}'s pending request: {event.status} with its period.")
            elif isinstance(event, PeriodClosed):
                self.say(
                    f"Period {event.period_index} closed: {event.expired:,} credits expired "
                    f"(the pool's {before.pool.unallocated:,} unallocated"
                )
                self.say(
                    f"  and the members' {unspent:,} unspent: the default rollover policy); "
                    f"{event.carried_over:,} carried over."
                )
            elif isinstance(event, PeriodOpened):
                self.say(f"Period {event.period_index} opened: {event.granted:,} credits granted.")
        after = self.board()
        self.say(
            f"Bruno's standing allotment is re-issued: the pool has {after.pool.unallocated:,} "
            "unallocated."
        )
        renewed = self.service.profile(self.bruno).credits
        if renewed is not None:
            self.say(f"Bruno's Enterprise Credits: {credits_line(renewed)}")
            self.say(
                f"  valid through {renewed.valid_through.isoformat()}; resets "
                f"{_local(renewed.resets_at)} ({when(renewed.resets_at)})."
            )

    def team(self) -> None:
        self.story.step("A team with a budget of its own")
        video = self.service.create_team(self.ana, self.org_id, "Video")
        self.service.fund_team(self.ana, self.org_id, video.id, 1_500)
        for user in (self.bruno, self.carla):
            self.service.assign_team(self.ana, self.org_id, user, video.id)
        self.say(f"Ana creates the team {video.name!r}, funds its budget with 1,500 credits from")
        self.say("the pool and assigns Bruno and Carla to it.")
        self.service.allocate_credits(self.ana, self.org_id, self.carla, 600)
        self.say("Ana allocates 600 credits to Carla: they come from the team's budget.")
        self.service.delegate_team(self.ana, self.org_id, self.carla)
        self.service.allocate_credits(self.carla, self.org_id, self.bruno, 400)
        self.say("Ana delegates the team to Carla, who allocates 400 of its budget to Bruno.")
        self.service.spend(self.carla, self.org_id, 250, generation_id="gen-5", feature="video")
        self.say("Carla's video gen-5 spends 250 credits.")
        board = self.board()
        for row in board.teams:
            self.say(
                f"Dashboard, team {row.name}: {row.members} members | budget {row.budget:,} | "
                f"allocated {row.allocated:,} | used {row.used:,} | remaining {row.remaining:,}"
            )
        self.say(f"Pool: {board.pool.unallocated:,} credits unallocated.")
        profile = self.service.profile(self.carla)
        section = profile.credits
        if section is not None:
            self.say(
                f"Carla's profile: team {profile.team!r}, {profile.team_remaining or 0:,} "
                "credits left in its budget;"
            )
            self.say(f"  Enterprise Credits: {credits_line(section)}")

    def limits(self) -> None:
        self.story.step("A team cap and a soft limit")
        video = self.service.list_teams(self.ana, self.org_id)[0]
        self.service.set_spend_cap(self.ana, self.org_id, 3_000, team_id=video.id)
        self.service.set_soft_limit(self.ana, self.org_id, SoftLimit(percent=10))
        self.say("Ana caps each member of Video at 3,000 credits a month and sets a soft limit:")
        self.say("a member who runs out may spend 10% of what they were given on grace.")
        before = self.service.profile(self.bruno).credits
        if before is None:
            return
        amount = before.remaining + 30
        self.service.spend(self.bruno, self.org_id, amount, generation_id="gen-6", feature="video")
        after = self.service.profile(self.bruno).credits
        if after is None:
            return
        self.say(
            f"Bruno has {before.remaining:,} credits and spends {amount:,} on gen-6: "
            f"{after.grace_drawn:,} are lent on grace by the team's budget"
        )
        self.say(
            f"  ({after.grace_drawn:,} of his {after.grace_allowance:,} of grace this period)."
        )
        filed = [
            r
            for r in self.service.list_requests(self.ana, self.org_id)
            if r.user_id == self.bruno and r.automatic
        ]
        for request in filed:
            self.say(
                f"A credit request for {request.amount:,} credits was filed for Bruno "
                "automatically, once, for Ana or Carla to decide."
            )
        status = self.service.spend_cap_status(self.bruno, self.org_id)
        self.say(
            f"Bruno's cap: {status.cap or 0:,} (his team's); {status.counted:,} spent or held, "
            f"{status.room or 0:,} left under it."
        )

    def reconciliation(self) -> bool:
        self.story.step("Reconciliation")
        problems = self.service.reconcile(self.org_id)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            self.say(f"reconcile(): {len(problems)} problem(s), listed on stderr.")
            return False
        self.say("reconcile(): no problems. Every cached balance equals what its transfers")
        self.say("imply, no pool or member account is below zero, and all balances sum to zero.")
        return True
