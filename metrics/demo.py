"""The metrics layer's demo data: what the dashboards and the follow-up queue need to tell a
believable 90-day story on top of the lower layers' demo data (``demo_data`` runs this after the
journeys, inbox and surveys demos and before the rollups are built).

Everything is written through the apps' own services, as a customer, an agent or a worker would
have written it, and then placed in the past with ``.update()`` of the timestamps (the way the
metrics tests place answers and conversations on a day):

* a customer-effort survey on checkout, with two months of answers;
* the e-mails that carried the demo invitations (a tenth of them bounced or failed), so the
  response rate has a denominator;
* three months of support conversations on every channel, worked by the demo agents and the CX
  lead with realistic first response and handling times, and the support CSAT answers that
  followed them, credited to the conversation's team and agent;
* close the loop: root causes, two rules, and follow-ups opened for the last days' detractors by
  the same pending list and drain the app uses, then moved along their workflow;
* a few recent churns when the customers demo left none in the last quarter.

Each part has its marker (a named survey, an inbound event id prefix, a named rule) and is left
alone once it exists, so running ``demo_data`` again adds nothing. Randomness is seeded."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from cxm.accounts.models import Team, User
from cxm.errors import ApplicationError
from inbox import services as inbox
from inbox.channels.base import InboundMessage
from inbox.models import ChannelAccount, Conversation, Delivery, InboundEvent, Message, Suppression
from journeys.models import Customer, Interaction, Touchpoint, TouchpointDailyVolume
from metrics import followup_services as loop
from metrics.models import FollowUp, FollowUpEvent, FollowUpRule, Priority, RootCause
from surveys import services as surveys
from surveys.answers import AnswerValue
from surveys.demo import SURVEYS
from surveys.messages import invitation_drafts
from surveys.models import Invitation, Question, Response, Survey

SEED = 90
DAYS = 90  # the story's length: the dashboards' longest default period
LEAD = "lead@demo.cxm.test"
NPS_SURVEY = "Relationship NPS"
CSAT_SURVEY = "Support CSAT"

# ------------------------------------------------------------------------------------------------
# Customer effort on checkout
# ------------------------------------------------------------------------------------------------
CES_SURVEY = "Checkout effort"
CES_TOUCHPOINT = "order.placed"
CES_INVITED = 165  # about 80 answers
CES_WEIGHTS = (4, 6, 9, 17, 22, 24, 18)  # 1 (very hard) … 7 (very easy): about 64 % easy
CES_COMMENTS = [
    "The payment page timed out and I had to start again.",
    "I could not find where to enter my discount code.",
    "The delivery slot picker was confusing.",
    "It asked for my address twice.",
    "Paying by bank transfer took three screens too many.",
]

# ------------------------------------------------------------------------------------------------
# Support conversations
# ------------------------------------------------------------------------------------------------
HISTORY_ID = "demo-history-"  # inbound event ids: demo-history-<n> and demo-history-<n>-2
HISTORY = 250
CHANNEL_WEIGHTS = {"email": 40, "webchat": 25, "whatsapp": 20, "sms": 15}
GROWTH = [1 + 0.8 * (1 - age / DAYS) for age in range(DAYS)]  # conversations per day, by age
MAILBOX = {"webchat": "email"}  # a web chat's survey and follow-up go by e-mail
# Medians in minutes: the first reply, the customer's next message, and resolving after the last
# reply. Email waits for someone to get to the mailbox; chat is answered while the customer waits.
FIRST_REPLY = {"email": 150, "sms": 35, "whatsapp": 20, "webchat": 4}
CUSTOMER_AGAIN = {"email": 300, "sms": 40, "whatsapp": 25, "webchat": 3}
RESOLVE_AFTER = {"email": 600, "sms": 240, "whatsapp": 180, "webchat": 25}
# Agent: (first-reply speed factor, resolving speed factor, CSAT weights for 1 … 5). Andrei is
# quick but brief, Sjoukje slower and thorough, the CX lead answers when her meetings allow.
AGENTS = {
    "agent@demo.cxm.test": (0.7, 1.2, (3, 5, 8, 30, 54)),
    "agent2@demo.cxm.test": (1.3, 0.8, (1, 1, 4, 24, 70)),
    LEAD: (1.8, 1.0, (1, 2, 5, 28, 64)),
}
# Who works a team's conversations, and how often.
WORKERS = {
    "Customer Care": {"agent@demo.cxm.test": 55, "agent2@demo.cxm.test": 35, LEAD: 10},
    "Delivery": {"agent2@demo.cxm.test": 85, "agent@demo.cxm.test": 15},
    "Stores": {LEAD: 100},
}
PRODUCTS = [
    "Lund sofa",
    "Oslo armchair",
    "Bergen dining table",
    "Malmö bed",
    "Aarhus bookcase",
    "Fjord corner sofa",
]
FABRICS = ["velvet", "linen", "bouclé", "wool"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@dataclass(frozen=True)
class Topic:
    team: str
    weight: int
    subject: str
    text: str
    reply: str
    again: str = ""  # the customer's second message, if the topic has one
    reply_again: str = ""


TOPICS = [
    Topic(
        "Delivery",
        16,
        "Where is my order?",
        "Hi, I ordered the {product} ({order}) {days} days ago and have not heard anything. "
        "When will it arrive?",
        "Sorry for the wait, {name}! Your {product} leaves our warehouse on {weekday}; you will "
        "get a delivery slot by SMS the day before.",
        "Great, thanks. Could it be in the afternoon?",
        "Done: I have asked the driver for an afternoon slot.",
    ),
    Topic(
        "Delivery",
        9,
        "Damaged on arrival",
        "The {product} arrived today with a scratch on one of the legs. What now?",
        "I am sorry about that, {name}. Could you send a photo? We will send a replacement part "
        "or a touch-up kit, whichever you prefer.",
        "Photo attached. A replacement part, please.",
        "Thank you! The replacement part is on its way and arrives within five working days.",
    ),
    Topic(
        "Delivery",
        7,
        "Change of delivery date",
        "Can we move the delivery of {order} to next week? We are away.",
        "Of course. I have moved it; you will get a new slot by SMS.",
    ),
    Topic(
        "Delivery",
        5,
        "Missing parts",
        "Two screws and a bracket are missing from the {product} box.",
        "Sorry about that! They go out by post today, so you should have them on {weekday}.",
        "Thanks. Can I use the sofa without the bracket until then?",
        "Yes, that is fine: the bracket only keeps the modules together.",
    ),
    Topic(
        "Customer Care",
        10,
        "Invoice with VAT number",
        "Could you send the invoice for {order} with our company name and VAT number on it?",
        "Of course: the corrected invoice is attached. Let me know if anything else needs "
        "changing.",
    ),
    Topic(
        "Customer Care",
        10,
        "Return request",
        "I would like to return the {product}; the colour does not match our room after all.",
        "No problem, you have 30 days. I have booked a pick-up; the driver brings the return "
        "label.",
        "When do I get my money back?",
        "The refund is made within five working days of the pick-up.",
    ),
    Topic(
        "Customer Care",
        8,
        "Assembly question",
        "How do I attach the legs of the {product}? The manual is not clear.",
        "The legs screw into the metal plates under the frame; there is a short video under "
        "'Assembly' on the product page.",
        "Found it, thanks! One leg wobbles a bit though.",
        "Tighten it by hand first, then a quarter turn more; if it still wobbles we send a new "
        "plate.",
    ),
    Topic(
        "Customer Care",
        7,
        "Fabric care",
        "How should I clean the {fabric} cover of my {product}?",
        "Vacuum it weekly and dab stains with a damp cloth; the cover can be dry-cleaned.",
    ),
    Topic(
        "Customer Care",
        6,
        "Charged twice",
        "My card was charged twice for {order}.",
        "I am sorry, {name}! I see the double charge; the second one is refunded today and shows "
        "within three working days.",
        "Still not refunded, it has been a week.",
        "I checked with our bank: the refund went out on {weekday}. Here is the reference.",
    ),
    Topic(
        "Stores",
        6,
        "Showroom appointment",
        "Can I book a time at the {city} showroom to try the {product}?",
        "You are welcome any time, but I have booked Saturday 11:00 so a colleague is ready for "
        "you.",
    ),
    Topic(
        "Stores",
        4,
        "Fabric samples",
        "Could you send me fabric samples for the {product}?",
        "With pleasure: four samples are in the post today.",
    ),
]
SUPPORT_COMMENTS = {
    "negative": [
        "It took days to get an answer.",
        "I had to explain my problem twice.",
        "Still waiting for the replacement part.",
        "The answer did not help at all.",
    ],
    "neutral": [
        "Solved in the end, but it took a while.",
        "OK, but I had to chase you.",
        "Friendly, but I needed two messages to get an answer.",
    ],
    "positive": [
        "{agent} was really helpful, thank you!",
        "Quick answer, problem solved.",
        "Very friendly and clear, thanks {agent}.",
        "Sorted within the hour. Great service.",
    ],
}

# ------------------------------------------------------------------------------------------------
# Close the loop
# ------------------------------------------------------------------------------------------------
ROOT_CAUSES = [
    "Late delivery",
    "Damaged product",
    "Billing",
    "Slow or no reply",
    "Rude or unhelpful contact",
    "Product quality",
    "Other",
]
# Words in the customer's comment → the root cause the owner finds.
CAUSE_WORDS = [
    ("late", "Late delivery"),
    ("delivery", "Late delivery"),
    ("scratch", "Damaged product"),
    ("replacement", "Damaged product"),
    ("expensive", "Product quality"),
    ("quality", "Product quality"),
    ("called back", "Slow or no reply"),
    ("days to get", "Slow or no reply"),
    ("twice", "Rude or unhelpful contact"),
    ("did not help", "Rude or unhelpful contact"),
    ("slow", "Slow or no reply"),
]
RULE_NPS = "NPS detractors"
RULE_SUPPORT = "Unhappy support"
FOLLOW_UP_DAYS = 14  # the rules were written this long ago: older answers have no follow-up
OUTCOMES = {
    "Late delivery": "Apologised for the late delivery and refunded the delivery fee.",
    "Damaged product": "Sent a replacement part by express; the customer is happy with it.",
    "Billing": "Explained the invoice and corrected it; sent the new one by email.",
    "Slow or no reply": "Called back, apologised for the wait and solved the question.",
    "Rude or unhelpful contact": "Apologised, went through the answer again; coached the agent.",
    "Product quality": "Offered a 10 % voucher; passed the feedback to the buyers.",
    "Other": "Listened to the feedback and thanked the customer.",
}
FOLLOW_UP_REPLY = (
    "Hi {name}, thank you for your honest answer. I am sorry we let you down. Could I call you "
    "tomorrow to put this right? — {owner}"
)


def _lognormal(rng: random.Random, median_minutes: float, sigma: float = 0.9) -> dt.timedelta:
    return dt.timedelta(minutes=median_minutes * math.exp(rng.gauss(0, sigma)))


def _first(name: str) -> str:
    return (name or "").split(" ")[0]


def _address(customer: Customer, channel: str) -> str:
    return customer.phone if channel in ("sms", "whatsapp") else customer.email


def _day(moment: dt.datetime) -> dt.date:
    return timezone.localdate(moment, dt.UTC)


@dataclass
class _Plan:
    """One past conversation: who, on which channel, about what, and when each step happened."""

    n: int
    customer: Customer
    channel: str
    topic: Topic
    team: Team | None
    agent: User
    words: dict[str, str]
    opened: dt.datetime
    replied: dt.datetime | None = None
    again: dt.datetime | None = None
    replied_again: dt.datetime | None = None
    resolved: dt.datetime | None = None
    unhappy: bool = False  # the customer rates this conversation badly, whatever the odds


class MetricsDemo:
    """Loads the metrics-layer demo data; ``stdout``/``stderr`` are the calling command's."""

    def __init__(self, stdout: Any, stderr: Any):
        self.stdout = stdout
        self.stderr = stderr
        self.now = timezone.now()
        # Interactions moved to another day, per touchpoint: the journey map's daily volumes
        # move with them.
        self.volumes: Counter[tuple[int, dt.date]] = Counter()

    def handle(self) -> None:
        rng = random.Random(SEED)
        lead = User.objects.filter(email=LEAD).first()
        if lead is None:
            self.stderr.write("demo metrics: the demo users are missing; run the journeys demo")
            return
        answers = self._effort(rng, lead)
        conversations, ratings = self._history(rng)
        sent = self._deliveries(rng)
        opened, recovered = self._close_the_loop(rng, lead)
        churned = self._churn(rng)
        self._volumes_apply()
        self.stdout.write(
            f"demo metrics: {answers} effort answers, {conversations} past conversations with "
            f"{ratings} CSAT answers, {sent} invitation messages, {opened} follow-ups "
            f"({recovered} won back), {churned} recent churns"
        )

    # --------------------------------------------------------------------------------------------
    # Placing what the services wrote "now" in the past
    # --------------------------------------------------------------------------------------------
    def _retime(self, interactions: QuerySet[Interaction], when: dt.datetime) -> None:
        """Move timeline entries to ``when``, and their touchpoints' daily volumes with them."""
        for touchpoint_id, occurred in interactions.exclude(touchpoint=None).values_list(
            "touchpoint_id", "occurred_at"
        ):
            self.volumes[(touchpoint_id, _day(occurred))] -= 1
            self.volumes[(touchpoint_id, _day(when))] += 1
        interactions.update(occurred_at=when)

    def _volumes_apply(self) -> None:
        for (touchpoint_id, day), change in sorted(self.volumes.items()):
            if not change:
                continue
            row, _new = TouchpointDailyVolume.objects.get_or_create(
                touchpoint_id=touchpoint_id, day=day
            )
            TouchpointDailyVolume.objects.filter(pk=row.pk).update(count=max(0, row.count + change))
        self.volumes.clear()

    def _answered(self, response: Response, when: dt.datetime, rng: random.Random) -> None:
        """A response completed at ``when`` (started a minute or two before)."""
        started = when - dt.timedelta(seconds=rng.randint(40, 240))
        Response.objects.filter(pk=response.pk).update(started_at=started, completed_at=when)
        if response.invitation_id:
            Invitation.objects.filter(pk=response.invitation_id).update(
                opened_at=started, responded_at=when
            )
        self._retime(
            Interaction.objects.filter(source_type="surveys.response", source_id=str(response.pk)),
            when,
        )

    def _invite(
        self,
        survey: Survey,
        customer: Customer,
        channel: str,
        sent: dt.datetime,
        conversation: Conversation | None = None,
    ) -> Invitation:
        """An invitation sent at ``sent`` on ``channel`` (its e-mail or text follows in
        ``_deliveries``), about ``conversation`` if any."""
        invitation = surveys.invitation_create(survey=survey, customer=customer, channel=channel)
        fields: dict[str, Any] = {
            "address": _address(customer, channel),
            "send_at": sent,
            "created_at": sent - dt.timedelta(seconds=30),
        }
        if conversation is not None:
            fields["conversation"] = conversation
        Invitation.objects.filter(pk=invitation.pk).update(**fields)
        for name, value in fields.items():
            setattr(invitation, name, value)
        return invitation

    # --------------------------------------------------------------------------------------------
    # 1. Customer effort on checkout
    # --------------------------------------------------------------------------------------------
    def _effort(self, rng: random.Random, lead: User) -> int:
        if Survey.objects.filter(name=CES_SURVEY).exists():
            return 0
        customers = list(Customer.objects.exclude(email="").order_by("id"))
        if not customers:
            return 0
        first_sent = self.now - dt.timedelta(days=62)
        with transaction.atomic():
            survey = surveys.survey_create(
                name=CES_SURVEY,
                kind=Survey.Kind.CES,
                default_language="en",
                languages=["nl", "ro", "fy"],
                by=lead,
            )
            Survey.objects.filter(pk=survey.pk).update(
                touchpoint=Touchpoint.objects.filter(key=CES_TOUCHPOINT).first(),
                display="one",
                public_enabled=False,
            )
            survey.refresh_from_db()
            survey = surveys.survey_status_change(survey=survey, status="active", by=lead)
            Survey.objects.filter(pk=survey.pk).update(
                created_at=first_sent - dt.timedelta(days=2), activated_at=first_sent
            )
            questions = list(survey.questions.all())
            effort = next(q for q in questions if q.is_scored)
            easier = next((q for q in questions if q.is_text), None)
            answers = 0
            for customer in rng.sample(customers, k=min(len(customers), CES_INVITED)):
                sent = self.now - dt.timedelta(minutes=rng.uniform(120, 62 * 24 * 60))
                invitation = self._invite(survey, customer, "email", sent)
                when = sent + _lognormal(rng, 240, 1.1)
                if rng.random() < 0.5 or when > self.now - dt.timedelta(minutes=5):
                    continue  # not answered (yet)
                score = rng.choices(range(1, 8), weights=CES_WEIGHTS)[0]
                values: dict[Question, AnswerValue] = {effort: AnswerValue(number=score)}
                if easier is not None and score <= 4 and rng.random() < 0.7:
                    values[easier] = AnswerValue(text=rng.choice(CES_COMMENTS))
                response = surveys.response_start(
                    survey=survey, language=invitation.language, invitation=invitation
                )
                surveys.response_submit(response=response, questions=questions, values=values)
                self._answered(response, when, rng)
                answers += 1
        return answers

    # --------------------------------------------------------------------------------------------
    # 2 and 3. Past support conversations, and the CSAT answers that followed them
    # --------------------------------------------------------------------------------------------
    def _history(self, rng: random.Random) -> tuple[int, int]:
        if InboundEvent.objects.filter(
            provider="demo", provider_id__startswith=HISTORY_ID
        ).exists():
            return 0, 0
        accounts = {
            kind: ChannelAccount.objects.filter(kind=kind, provider="outbox").order_by("id").first()
            for kind in CHANNEL_WEIGHTS
        }
        csat = Survey.objects.filter(name=CSAT_SURVEY, status=Survey.Status.ACTIVE).first()
        if any(account is None for account in accounts.values()):
            self.stderr.write("demo metrics: the inbox demo's channels are missing")
            return 0, 0
        plans = self._plans(rng)
        made = ratings = 0
        with transaction.atomic():
            for plan in plans:
                account = accounts[plan.channel]
                assert account is not None
                conversation = self._conversation(plan, account)
                if conversation is None:
                    continue
                made += 1
                if csat is not None and plan.resolved is not None:
                    ratings += self._rating(rng, csat, plan, conversation)
        return made, ratings

    def _plans(self, rng: random.Random) -> list[_Plan]:
        """Who writes when about what: one conversation per customer and channel (a second one
        would thread into the first; web chat counts as e-mail, where its survey goes), never
        with a customer who already has one or is about to be followed up after a bad answer
        (the follow-up would take over an open conversation of theirs from later on)."""
        busy = set(Conversation.objects.values_list("customer_id", flat=True))
        busy |= set(
            Response.objects.filter(
                survey__name=NPS_SURVEY,
                score__lte=6,
                completed_at__gte=self.now - dt.timedelta(days=FOLLOW_UP_DAYS),
            ).values_list("customer_id", flat=True)
        )
        suppressed = set(Suppression.objects.values_list("channel", "address"))
        customers = [
            c for c in Customer.objects.exclude(email="").order_by("id") if c.pk not in busy
        ]
        teams = {team.name: team for team in Team.objects.filter(name__in=WORKERS)}
        people = {user.email: user for user in User.objects.filter(email__in=AGENTS)}
        taken: set[tuple[int, str]] = set()
        channels, weights = list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values())
        plans = []
        for n in range(HISTORY if customers else 0):
            channel = rng.choices(channels, weights=weights)[0]
            customer = None
            for _try in range(20):
                candidate = rng.choice(customers)
                address = _address(candidate, channel)
                if (
                    address
                    and (candidate.pk, MAILBOX.get(channel, channel)) not in taken
                    and (channel, address.lower()) not in suppressed
                ):
                    customer = candidate
                    break
            topic = rng.choices(TOPICS, weights=[t.weight for t in TOPICS])[0]
            workers = WORKERS[topic.team]
            email = rng.choices(list(workers), weights=list(workers.values()))[0]
            agent = people.get(email)
            if customer is None or agent is None:
                continue
            taken.add((customer.pk, MAILBOX.get(channel, channel)))
            plan = _Plan(
                n=n,
                customer=customer,
                channel=channel,
                topic=topic,
                team=teams.get(topic.team),
                agent=agent,
                words={
                    "name": _first(customer.name),
                    "agent": _first(agent.name),
                    "product": rng.choice(PRODUCTS),
                    "fabric": rng.choice(FABRICS),
                    "order": f"order {rng.randint(10400, 19999)}",
                    "days": str(rng.randint(8, 21)),
                    "weekday": rng.choice(WEEKDAYS),
                    "city": (customer.attributes or {}).get("city") or "Amsterdam",
                },
                opened=self._opened_at(rng),
            )
            if n >= HISTORY - 2:
                self._slow(rng, plan)
            else:
                self._timing(rng, plan)
            plans.append(plan)
        plans.sort(key=lambda p: p.opened)
        # And one unhappy customer of a few days ago, whose follow-up has been closed since.
        earlier = [
            p
            for p in plans
            if p.resolved is not None
            and self.now - dt.timedelta(days=5) < p.resolved < self.now - dt.timedelta(days=2)
        ]
        if earlier:
            earlier[-1].unhappy = True
        return plans

    def _slow(self, rng: random.Random, plan: _Plan) -> None:
        """Two unhappy customers the story needs whatever the dice say: they wrote the day
        before yesterday, waited most of a working day for an answer, and their conversations
        were resolved yesterday or this morning; their bad ratings are in the follow-up queue."""
        plan.opened = self.now - dt.timedelta(hours=rng.uniform(28, 34))
        plan.replied = plan.opened + dt.timedelta(hours=rng.uniform(7, 10))
        plan.resolved = self.now - dt.timedelta(hours=rng.uniform(5, 14))
        plan.unhappy = True

    def _opened_at(self, rng: random.Random) -> dt.datetime:
        """A moment in the last 90 days, in shop hours, fewer at weekends; the shop grows, so
        recent weeks bring more questions than three months ago."""
        today = timezone.localdate(self.now)
        day = today - dt.timedelta(days=rng.choices(range(DAYS), weights=GROWTH)[0])
        if day.weekday() >= 5 and rng.random() < 0.5:
            day = today - dt.timedelta(days=rng.choices(range(DAYS), weights=GROWTH)[0])
        hour = rng.choices(range(7, 23), weights=[2, 5, 8, 9, 9, 8, 7, 8, 8, 7, 6, 6, 5, 4, 3, 2])
        moment = timezone.make_aware(dt.datetime.combine(day, dt.time(hour[0], rng.randint(0, 59))))
        if moment > self.now - dt.timedelta(minutes=15):
            moment = self.now - dt.timedelta(minutes=rng.uniform(15, 360))
        return moment

    def _timing(self, rng: random.Random, plan: _Plan) -> None:
        """When the agent answered, the customer wrote again, and the conversation was resolved:
        nothing that would lie in the future. The more recent, the likelier it is still open."""
        reply_speed, resolve_speed, _weights = AGENTS[plan.agent.email]
        channel = plan.channel
        limit = self.now - dt.timedelta(minutes=5)
        replied = plan.opened + _lognormal(rng, FIRST_REPLY[channel] * reply_speed)
        replied = max(replied, plan.opened + dt.timedelta(seconds=20))
        if replied > limit:
            return
        plan.replied = last = replied
        if plan.topic.again and channel != "webchat" and rng.random() < 0.45:
            again = replied + _lognormal(rng, CUSTOMER_AGAIN[channel])
            replied_again = again + _lognormal(rng, FIRST_REPLY[channel] * reply_speed * 0.8)
            if replied_again < limit:
                plan.again, plan.replied_again = again, replied_again
                last = replied_again
        resolved = last + _lognormal(rng, RESOLVE_AFTER[channel] * resolve_speed, 0.8)
        # Some wait for the customer's answer a while; old ones have mostly been closed since.
        age = (self.now - plan.opened).days
        waiting = 0.35 if age < 7 else 0.15 if age < 21 else 0.05
        if resolved < limit and rng.random() >= waiting:
            plan.resolved = resolved

    def _receive(self, plan: _Plan, account: ChannelAccount, key: str, text: str, at: Any) -> None:
        inbound = InboundMessage(
            provider="demo",
            provider_id=key,
            channel=plan.channel,
            from_address=_address(plan.customer, plan.channel),
            from_name=plan.customer.name,
            to_address=account.address,
            subject=plan.topic.subject if plan.channel == "email" else "",
            text=text,
            received_at=at,
            customer_id=plan.customer.pk,
        )
        event, _new = inbox.inbound_event_record(
            provider="demo", kind="message", provider_id=key, payload=inbound.as_json()
        )
        inbox.inbound_event_process(event_id=event.pk)

    def _reply(self, conversation: Conversation, author: User, text: str, at: Any) -> Message:
        """An agent's reply, sent and delivered at ``at``."""
        message = inbox.reply_send(conversation=conversation, author=author, text=text)
        Message.objects.filter(pk=message.pk).update(created_at=at)
        Delivery.objects.filter(message=message).update(
            status=Delivery.Status.DELIVERED, attempts=1, created_at=at, updated_at=at
        )
        message.created_at = at
        return message

    def _conversation(self, plan: _Plan, account: ChannelAccount) -> Conversation | None:
        key = f"{HISTORY_ID}{plan.n}"
        words, topic, agent = plan.words, plan.topic, plan.agent
        self._receive(plan, account, key, topic.text.format(**words), plan.opened)
        conversation = Conversation.objects.filter(
            messages__provider_id=key, messages__direction=Message.Direction.INBOUND
        ).first()
        if conversation is None:
            return None
        if plan.team is not None and conversation.team_id != plan.team.pk:
            conversation = inbox.conversation_set_team(
                conversation=conversation, team=plan.team, by=agent
            )
        conversation = inbox.conversation_assign(
            conversation=conversation, assignee=agent, by=agent
        )
        sign = f"\n\n{words['agent']}" if plan.channel == "email" else ""
        if plan.replied is not None:
            self._reply(conversation, agent, topic.reply.format(**words) + sign, plan.replied)
        if plan.again is not None and plan.replied_again is not None:
            self._receive(plan, account, f"{key}-2", topic.again.format(**words), plan.again)
            text = topic.reply_again.format(**words) + sign
            self._reply(conversation, agent, text, plan.replied_again)
        if plan.resolved is not None:
            inbox.conversation_set_status(conversation=conversation, status="resolved", by=agent)
        # The services wrote "now": the conversation's clocks go back to the planned times.
        times = list(
            Message.objects.filter(conversation=conversation).values_list(
                "pk", "direction", "created_at"
            )
        )
        inbound = [at for _pk, direction, at in times if direction == Message.Direction.INBOUND]
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=plan.opened,
            first_customer_message_at=plan.opened,
            last_customer_message_at=max(inbound),
            first_response_at=plan.replied,
            last_message_at=max(at for _pk, _d, at in times),
            resolved_at=plan.resolved,
        )
        for pk, _direction, at in times:
            self._retime(Interaction.objects.filter(idempotency_key=f"inbox:message:{pk}"), at)
        if plan.resolved is not None:
            self._retime(
                Interaction.objects.filter(
                    source_type="inbox.conversation",
                    source_id=str(conversation.pk),
                    kind="conversation.resolved",
                ),
                plan.resolved,
            )
        inbox.sla_refresh(conversation_id=conversation.pk)
        conversation.refresh_from_db()
        return conversation

    def _rating(
        self, rng: random.Random, csat: Survey, plan: _Plan, conversation: Conversation
    ) -> int:
        """Most resolved conversations are followed by the support survey on their channel (web
        chat by e-mail); about half the customers answer, crediting the team and agent."""
        assert plan.resolved is not None and plan.replied is not None
        if not plan.unhappy and rng.random() >= 0.95:
            return 0
        channel = plan.channel if plan.channel in ("email", "sms", "whatsapp") else "email"
        sent = plan.resolved + dt.timedelta(minutes=rng.uniform(5, 60))
        if sent > self.now - dt.timedelta(minutes=10):
            return 0
        invitation = self._invite(csat, plan.customer, channel, sent, conversation)
        when = sent + _lognormal(rng, 150, 1.0)
        if plan.unhappy:
            when = min(when, self.now - dt.timedelta(minutes=30))
        elif rng.random() >= 0.55 or when > self.now - dt.timedelta(minutes=5):
            return 0
        weights: tuple[float, ...] = AGENTS[plan.agent.email][2]
        waited = (plan.replied - plan.opened).total_seconds() / 3600
        if waited > 8:  # a slow first answer costs satisfaction, whoever gave it
            weights = tuple(w * f for w, f in zip(weights, (2.5, 2, 1.3, 1, 0.6), strict=True))
        if plan.unhappy:
            weights = (3, 2, 0, 0, 0)
        score = rng.choices(range(1, 6), weights=weights)[0]
        questions = list(csat.questions.all())
        main = next(q for q in questions if q.is_scored)
        values: dict[Question, AnswerValue] = {main: AnswerValue(number=score)}
        why = next((q for q in questions if q.is_text), None)
        band = "positive" if score >= 4 else "neutral" if score == 3 else "negative"
        if why is not None and (plan.unhappy or rng.random() < 0.55):
            comment = rng.choice(SUPPORT_COMMENTS[band]).format(agent=plan.words["agent"])
            values[why] = AnswerValue(text=comment)
        response = surveys.response_start(
            survey=csat, language=invitation.language, invitation=invitation
        )
        surveys.response_submit(response=response, questions=questions, values=values)
        self._answered(response, when, rng)
        return 1

    # --------------------------------------------------------------------------------------------
    # 2. The messages that carried the invitations
    # --------------------------------------------------------------------------------------------
    def _deliveries(self, rng: random.Random) -> int:
        """An e-mail (or text) for each demo invitation that has none, sent a little before it
        was answered (or at some moment of the last two months): delivered or opened, and about
        one in ten bounced or failed. Queued through the inbox as a distribution queues them,
        then marked with the provider's outcome."""
        names = [name for name, *_rest in SURVEYS] + [CES_SURVEY]
        waiting = list(
            Invitation.objects.filter(
                survey__name__in=names,
                delivery__isnull=True,
                distribution__isnull=True,
                status__in=[
                    Invitation.Status.CREATED,
                    Invitation.Status.OPENED,
                    Invitation.Status.RESPONDED,
                ],
            )
            .select_related("survey", "customer", "touchpoint", "distribution")
            .order_by("id")
        )
        if not waiting:
            return 0
        responses = {
            r.invitation_id: r for r in Response.objects.filter(invitation__in=waiting).order_by()
        }
        outcomes: list[tuple[dt.datetime, str, str]] = []
        changed_channel: list[int] = []
        with transaction.atomic():
            for invitation in waiting:
                response = responses.get(invitation.pk)
                if invitation.channel not in ("email", "sms", "whatsapp"):
                    invitation.channel = "email"  # the demo's personal links went out by e-mail
                    if response is not None:
                        changed_channel.append(response.pk)
                invitation.address = invitation.address or _address(
                    invitation.customer, invitation.channel
                )
                if response is not None:
                    sent = invitation.send_at or (
                        response.started_at - dt.timedelta(minutes=rng.uniform(20, 30 * 60))
                    )
                    status = "opened" if rng.random() < 0.8 else "delivered"
                    error = ""
                else:
                    sent = invitation.send_at or (
                        self.now - dt.timedelta(minutes=rng.uniform(60, 60 * 24 * 60))
                    )
                    invitation.status = Invitation.Status.QUEUED
                    roll = rng.random()
                    if roll < 0.15:
                        status, error = "bounced", "550 5.1.1 Mailbox unavailable"
                    elif roll < 0.22:
                        status, error = "failed", "Provider timeout after 5 attempts"
                    else:
                        status, error = ("opened" if roll > 0.8 else "delivered"), ""
                invitation.send_at = sent
                invitation.created_at = min(invitation.created_at, sent - dt.timedelta(seconds=30))
                outcomes.append((sent, status, error))
            deliveries = inbox.deliveries_queue(drafts=invitation_drafts(waiting))
            for invitation, delivery, (sent, status, error) in zip(
                waiting, deliveries, outcomes, strict=True
            ):
                delivery.status, delivery.error = status, error
                delivery.attempts = 1
                delivery.created_at = delivery.updated_at = sent
                invitation.delivery = delivery
            Delivery.objects.bulk_update(
                deliveries, ["status", "error", "attempts", "created_at", "updated_at"], 500
            )
            Invitation.objects.bulk_update(
                waiting,
                ["channel", "address", "status", "send_at", "created_at", "delivery"],
                500,
            )
            Response.objects.filter(pk__in=changed_channel).update(channel="email")
        return len(deliveries)

    # --------------------------------------------------------------------------------------------
    # 5. Close the loop
    # --------------------------------------------------------------------------------------------
    def _close_the_loop(self, rng: random.Random, lead: User) -> tuple[int, int]:
        if FollowUpRule.objects.filter(name=RULE_NPS).exists():
            return 0, 0
        nps = Survey.objects.filter(name=NPS_SURVEY).first()
        csat = Survey.objects.filter(name=CSAT_SURVEY).first()
        if nps is None or csat is None:
            return 0, 0
        started = timezone.now()
        with transaction.atomic():
            causes = {}
            for name in ROOT_CAUSES:
                causes[name] = RootCause.objects.filter(
                    name__iexact=name, parent=None
                ).first() or loop.root_cause_save(cause=None, name=name, parent=None)
            for name, survey, score, priority, hours in (
                (RULE_NPS, nps, 6, Priority.HIGH, 48),
                (RULE_SUPPORT, csat, 2, Priority.HIGH, 24),
            ):
                rule = loop.rule_save(
                    rule=None,
                    by=lead,
                    name=name,
                    survey=survey,
                    score_op="lte",
                    score=score,
                    owner_kind=FollowUpRule.Owner.TOUCHPOINT_TEAM,
                    priority=priority,
                    due_hours=hours,
                )
                FollowUpRule.objects.filter(pk=rule.pk).update(
                    created_at=self.now - dt.timedelta(days=FOLLOW_UP_DAYS, hours=2)
                )
            # The rules look at every answer completed since they were written, as the app's
            # worker would have: the answers wait in the pending list and a drain opens the
            # follow-ups of those that match. (The inbox demo's open conversations stay as they
            # are: a follow-up would take one over, so their customers' answers are left out.)
            since = self.now - dt.timedelta(days=FOLLOW_UP_DAYS)
            inbox_demo = Conversation.objects.filter(
                messages__provider_id__regex=r"^demo-[0-9]+$"
            ).exclude(status=Conversation.Status.RESOLVED)
            recent = list(
                Response.objects.filter(
                    survey__in=[nps, csat], completed_at__gte=since, customer__isnull=False
                )
                .exclude(customer_id__in=inbox_demo.values("customer_id"))
                .order_by("completed_at", "id")
                .values_list("pk", flat=True)
            )
            for response_id in recent:
                loop.followup_candidate_add(response_id=response_id)
            loop.followups_drain()
            followups = list(
                FollowUp.objects.filter(response_id__in=recent)
                .select_related("response", "rule", "owner", "customer", "conversation")
                .order_by("response__completed_at", "id")
            )
            recovered = self._work(rng, followups, causes, lead, nps, started)
        loop.followups_drain()  # the won-back customers' new answers: no rule matches them
        return len(followups), recovered

    def _work(
        self,
        rng: random.Random,
        followups: list[FollowUp],
        causes: dict[str, RootCause],
        lead: User,
        nps: Survey,
        started: dt.datetime,
    ) -> int:
        """Place each follow-up at its answer's time, then move it along: the older ones were
        contacted in time and resolved (one left unreachable, one left overdue), the last
        days' ones are new or contacted."""
        limit = self.now - dt.timedelta(minutes=10)
        for followup in followups:
            completed = followup.response.completed_at
            assert completed is not None
            opened = completed + dt.timedelta(seconds=rng.randint(20, 180))
            followup.opened_at = opened
            followup.due_at = opened + dt.timedelta(
                hours=followup.rule.due_hours if followup.rule else 24
            )
            FollowUp.objects.filter(pk=followup.pk).update(
                opened_at=followup.opened_at, due_at=followup.due_at
            )
            FollowUpEvent.objects.filter(followup=followup).update(at=opened)
            self._retime(
                Interaction.objects.filter(
                    source_type="metrics.followup", source_id=str(followup.pk)
                ),
                opened,
            )
            if followup.conversation_id:
                Message.objects.filter(
                    conversation_id=followup.conversation_id,
                    direction=Message.Direction.NOTE,
                    created_at__gte=started,
                ).update(created_at=opened)
                Conversation.objects.filter(
                    pk=followup.conversation_id, created_at__gte=started
                ).update(created_at=opened)
        older = [f for f in followups if f.due_at < self.now]
        recent = [f for f in followups if f.due_at >= self.now]
        overdue = older[-1] if older else None  # the latest of them slipped past its deadline
        unreachable = older[0] if len(older) >= 3 else None
        recovered = 0
        for followup in followups:
            owner = followup.owner or lead
            if followup is overdue:
                continue
            if followup in recent:
                # The last days' follow-ups have been answered, but for the newest one.
                if followup is not recent[-1]:
                    contact = followup.opened_at + _lognormal(rng, 150, 0.8)
                    if contact >= limit:
                        contact = followup.opened_at + (limit - followup.opened_at) * 0.6
                    self._contact(rng, followup, owner, contact)
                continue
            window = followup.due_at - followup.opened_at
            if followup is unreachable:
                closed = min(limit, followup.opened_at + window * rng.uniform(0.6, 0.9))
                loop.followup_mark_unreachable(
                    followup=followup,
                    by=owner,
                    outcome="Called twice and sent an email; no answer.",
                )
                self._closed(followup, closed)
                self._resolve_conversation(followup, owner, closed)
                continue
            late = older.index(followup) % 6 == 4  # one in six is answered after its deadline
            contact = followup.opened_at + (
                window * rng.uniform(1.05, 1.5)
                if late
                else min(window * 0.9, _lognormal(rng, 180, 0.8))
            )
            contact = min(contact, limit - dt.timedelta(hours=1))
            self._contact(rng, followup, owner, contact)
            closed = min(limit, contact + _lognormal(rng, 8 * 60, 0.9))
            if not late and closed > followup.due_at and rng.random() < 0.8:
                # Most owners close the loop before the deadline, if only just.
                closed = max(contact, followup.due_at - _lognormal(rng, 90, 0.5))
            cause = causes[self._cause(rng, followup)]
            won_back = rng.random() < 0.6
            loop.followup_resolve(
                followup=followup,
                by=owner,
                root_cause=cause,
                outcome=OUTCOMES.get(cause.name, OUTCOMES["Other"]),
                recovered=won_back,
            )
            self._closed(followup, closed)
            self._resolve_conversation(followup, owner, closed)
            if won_back and followup.survey_id == nps.pk and rng.random() < 0.6:
                recovered += self._won_back(rng, nps, followup, closed)
        for followup in followups:
            if followup.conversation_id:
                last = Message.objects.filter(conversation_id=followup.conversation_id).aggregate(
                    last=Max("created_at")
                )["last"]
                Conversation.objects.filter(pk=followup.conversation_id).update(
                    last_message_at=last
                )
                inbox.sla_refresh(conversation_id=followup.conversation_id)
        # Beat escalates an open follow-up past its deadline within a minute of it.
        loop.followups_escalate()
        for followup in FollowUp.objects.filter(
            pk__in=[f.pk for f in followups], escalated_at__isnull=False
        ):
            at = followup.due_at + dt.timedelta(minutes=1)
            FollowUp.objects.filter(pk=followup.pk).update(escalated_at=at)
            FollowUpEvent.objects.filter(followup=followup, kind="escalated").update(at=at)
        return recovered

    def _cause(self, rng: random.Random, followup: FollowUp) -> str:
        """The root cause the owner found: what the customer wrote, else what support answers
        are usually about."""
        texts = " ".join(
            answer.text.lower() for answer in followup.response.answers.all() if answer.text
        )
        for word, cause in CAUSE_WORDS:
            if word in texts:
                return cause
        if followup.survey.name == CSAT_SURVEY:
            return rng.choice(["Slow or no reply", "Rude or unhelpful contact", "Damaged product"])
        return rng.choices(ROOT_CAUSES, weights=[30, 15, 10, 10, 5, 20, 10])[0]

    def _contact(
        self, rng: random.Random, followup: FollowUp, owner: User, at: dt.datetime
    ) -> None:
        """The owner reaches the customer: a written reply in the follow-up's conversation
        (which the app counts as the first contact), or a call."""
        conversation = followup.conversation
        if conversation is not None and conversation.channel != "webchat" and rng.random() < 0.7:
            text = FOLLOW_UP_REPLY.format(
                name=_first(followup.customer.name), owner=_first(owner.name)
            )
            try:
                message = self._reply(conversation, owner, text, at)
            except ApplicationError:
                message = None  # the customer opted out of that channel: call instead
            if message is not None:
                self._retime(
                    Interaction.objects.filter(idempotency_key=f"inbox:message:{message.pk}"), at
                )
                if loop.followup_contact_from_message(message_id=message.pk):
                    return
        loop.followup_mark_contacted(followup=followup, by=owner, at=at, via="call")

    def _resolve_conversation(self, followup: FollowUp, owner: User, at: dt.datetime) -> None:
        """The owner resolves the follow-up's conversation when closing the follow-up."""
        conversation = followup.conversation
        if conversation is None:
            return
        conversation.refresh_from_db()
        if conversation.status == Conversation.Status.RESOLVED:
            return
        inbox.conversation_set_status(conversation=conversation, status="resolved", by=owner)
        Conversation.objects.filter(pk=conversation.pk).update(resolved_at=at)
        self._retime(
            Interaction.objects.filter(
                source_type="inbox.conversation",
                source_id=str(conversation.pk),
                kind="conversation.resolved",
            ),
            at,
        )

    def _closed(self, followup: FollowUp, closed: dt.datetime) -> None:
        """A follow-up closed at ``closed``: its history says whether that was in time."""
        FollowUp.objects.filter(pk=followup.pk).update(closed_at=closed)
        for event in FollowUpEvent.objects.filter(
            followup=followup, kind__in=[FollowUp.Status.RESOLVED, FollowUp.Status.UNREACHABLE]
        ):
            event.at = closed
            event.data = {**event.data, "in_time": closed <= followup.due_at}
            event.save(update_fields=["at", "data"])
        self._retime(
            Interaction.objects.filter(
                source_type="metrics.followup",
                source_id=str(followup.pk),
                kind__in=["followup.resolved", "followup.unreachable"],
            ),
            closed,
        )

    def _won_back(
        self, rng: random.Random, nps: Survey, followup: FollowUp, closed: dt.datetime
    ) -> int:
        """A customer won back answers the relationship survey again a few days later."""
        sent = closed + dt.timedelta(days=rng.uniform(2, 6))
        when = sent + _lognormal(rng, 180, 0.8)
        if when > self.now - dt.timedelta(minutes=10) or nps.status != Survey.Status.ACTIVE:
            return 0
        invitation = self._invite(nps, followup.customer, "email", sent)
        questions = list(nps.questions.all())
        main = next(q for q in questions if q.is_scored)
        score = rng.choice([8, 9, 9, 10])
        values: dict[Question, AnswerValue] = {main: AnswerValue(number=score)}
        liked = next((q for q in questions if q.key == ("liked" if score >= 9 else "ten")), None)
        if liked is not None:
            values[liked] = AnswerValue(text="You called me back and sorted it out. Thank you!")
        response = surveys.response_start(
            survey=nps, language=invitation.language, invitation=invitation
        )
        surveys.response_submit(response=response, questions=questions, values=values)
        self._answered(response, when, rng)
        self._deliveries(rng)
        return 1

    # --------------------------------------------------------------------------------------------
    # 6. Churn
    # --------------------------------------------------------------------------------------------
    def _churn(self, rng: random.Random) -> int:
        """The customers demo spreads lifecycle dates over four years; with few customers the
        last quarter may have no churn at all. Then a few long-standing customers leave."""
        today = timezone.localdate(self.now)
        quarter = today - dt.timedelta(days=DAYS)
        if Customer.objects.filter(churned_on__gte=quarter).exists():
            return 0
        active = list(
            Customer.objects.filter(
                became_customer_on__lt=quarter, churned_on__isnull=True
            ).order_by("id")
        )
        leaving = rng.sample(active, k=min(len(active), max(2, len(active) // 50)))
        for customer in leaving:
            Customer.objects.filter(pk=customer.pk).update(
                churned_on=today - dt.timedelta(days=rng.randint(3, DAYS - 3)),
                updated_at=self.now,
            )
        return len(leaving)
