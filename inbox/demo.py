"""The inbox's demo data: channel accounts and a handful of conversations. Safe to run again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from cxm.accounts.models import Team, User
from inbox import services
from inbox.channels.base import InboundMessage
from inbox.models import ChannelAccount, Conversation, InboundEvent
from journeys.models import Customer

CHANNELS = [
    # kind, name, address, team
    ("email", "Support mail", "support@demo.cxm.test", "Customer Care"),
    ("sms", "Support SMS", "+3197010000000", "Customer Care"),
    ("whatsapp", "WhatsApp", "+3197010000001", "Delivery"),
    ("webchat", "Website chat", "http://127.0.0.1:8000", "Customer Care"),
    ("api", "Webshop backend", "webshop", "Customer Care"),
]
# (channel, subject, customer message, agent reply or "", resolved)
CONVERSATIONS = [
    (
        "email",
        "Where is my sofa?",
        "Hi, I ordered the Lund sofa two weeks ago. When will it arrive?",
        "It leaves our warehouse tomorrow; you will get a delivery slot by SMS.",
        False,
    ),
    ("sms", "", "Can the delivery come after 17:00?", "", False),
    (
        "whatsapp",
        "",
        "De bank is geleverd maar er zit een kras op de armleuning.",
        "Wat vervelend! Kun je een foto sturen?",
        False,
    ),
    (
        "email",
        "Invoice for order 10452",
        "Could you send the invoice with our VAT number on it?",
        "",
        False,
    ),
    (
        "email",
        "Thank you!",
        "The assembly team was great. Thanks!",
        "Thank you for letting us know!",
        True,
    ),
    ("sms", "", "STOP", "", True),
    (
        "email",
        "Return of a cushion",
        "I would like to return one cushion, it is the wrong colour.",
        "",
        False,
    ),
]


class InboxDemo:
    def __init__(self, stdout: Any, stderr: Any):
        self.stdout = stdout
        self.stderr = stderr

    def handle(self) -> None:
        accounts = {}
        for kind, name, address, team in CHANNELS:
            account = ChannelAccount.objects.filter(kind=kind, address__iexact=address).first()
            if account is None:
                account = ChannelAccount.objects.create(
                    kind=kind,
                    name=name,
                    address=address,
                    provider="outbox",
                    team=Team.objects.filter(name=team).first(),
                )
            accounts[kind] = account
        agent = User.objects.filter(email="agent@demo.cxm.test").first()
        customers = list(
            Customer.objects.exclude(email="")
            .exclude(phone="")
            .order_by("id")[: len(CONVERSATIONS)]
        )
        created = 0
        for n, ((channel, subject, text, reply, resolved), customer) in enumerate(
            zip(CONVERSATIONS, customers, strict=False)
        ):
            provider_id = f"demo-{n}"
            if InboundEvent.objects.filter(provider="demo", provider_id=provider_id).exists():
                continue
            inbound = InboundMessage(
                provider="demo",
                provider_id=provider_id,
                channel=channel,
                from_address=customer.email if channel == "email" else customer.phone,
                from_name=customer.name,
                to_address=accounts[channel].address,
                subject=subject,
                text=text,
                received_at=timezone.now() - dt.timedelta(hours=len(CONVERSATIONS) - n),
            )
            event, _new = services.inbound_event_record(
                provider="demo", kind="message", provider_id=provider_id, payload=inbound.as_json()
            )
            services.inbound_event_process(event_id=event.pk)
            conversation = (
                Conversation.objects.filter(customer=customer, channel=channel)
                .order_by("-id")
                .first()
            )
            if conversation is not None and reply and agent is not None:
                services.conversation_assign(conversation=conversation, assignee=agent, by=agent)
                services.reply_send(conversation=conversation, author=agent, text=reply)
            if conversation is not None and resolved and agent is not None:
                services.conversation_set_status(
                    conversation=conversation, status="resolved", by=agent
                )
            created += 1
        self.stdout.write(f"demo inbox: {len(accounts)} channels, {created} new conversations")
