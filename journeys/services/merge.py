"""Merging two records of one customer (say an email contact and an SMS contact)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from cxm.core.services import audit_record
from cxm.errors import ApplicationError
from journeys.models import Customer, Interaction, TouchpointChannel
from journeys.services.customers import FIELDS
from journeys.services.interactions import interaction_record
from journeys.signals import customers_merging

logger = logging.getLogger(__name__)

MERGE_FIELDS = [f for f in FIELDS if f != "attributes"]


def _snapshot(customer: Customer) -> dict[str, Any]:
    return {
        name: str(getattr(customer, name)) if getattr(customer, name) is not None else None
        for name in FIELDS
    }


def customer_merge(
    *, survivor: Customer, merged: Customer, choices: dict[str, str], actor: Any
) -> Customer:
    """Fold ``merged`` into ``survivor``; ``choices`` says per field whose value stays
    (``"survivor"`` or ``"merged"``; fields not named keep the survivor's, or the merged record's
    when the survivor has none). Every interaction (and, through ``customers_merging``, every
    conversation and response) moves to the survivor; ``merged`` is deleted; an audit entry keeps
    both records as they were."""
    if survivor.pk == merged.pk:
        raise ApplicationError(_("Choose two different customers."), field="merged")
    unknown = set(choices) - set(MERGE_FIELDS)
    if unknown or set(choices.values()) - {"survivor", "merged"}:
        raise ApplicationError(_("Unknown field or choice."), field=next(iter(unknown), "choices"))
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
        }
        if len(locked) != 2:
            raise ApplicationError(_("One of the customers no longer exists."), field="merged")
        survivor, merged = locked[survivor.pk], locked[merged.pk]
        before = {"survivor": _snapshot(survivor), "merged": _snapshot(merged)}

        values: dict[str, Any] = {}
        for name in MERGE_FIELDS:
            mine, theirs = getattr(survivor, name), getattr(merged, name)
            pick = choices.get(name) or ("survivor" if mine not in (None, "") else "merged")
            values[name] = theirs if pick == "merged" else mine
        values["attributes"] = {**(merged.attributes or {}), **(survivor.attributes or {})}

        # Free the merged record's identities first: they may move to the survivor.
        Customer.objects.filter(pk=merged.pk).update(
            external_id=None, email="", phone=f"merged-{merged.pk}"[:20]
        )
        moved = Interaction.objects.filter(customer_id=merged.pk).update(customer_id=survivor.pk)
        customers_merging.send(sender=Customer, survivor_id=survivor.pk, merged_id=merged.pk)
        Customer.objects.filter(pk=merged.pk).delete()

        for name, value in values.items():
            setattr(survivor, name, value)
        survivor.save()
        audit_record(
            action="customer.merged",
            actor=actor,
            object_type="journeys.customer",
            object_id=survivor.pk,
            data={
                **before,
                "merged_id": merged.pk,
                "interactions_moved": moved,
                "choices": choices,
            },
        )
        interaction_record(
            customer=survivor,
            kind="customer.merged",
            channel=TouchpointChannel.OTHER,
            summary=_("Merged with %(name)s") % {"name": str(merged)},
            source_type="journeys.customer",
            source_id=survivor.pk,
            data={"merged_id": merged.pk, "interactions_moved": moved},
        )
    logger.info(
        "journeys.customer.merged", extra={"survivor_id": survivor.pk, "merged_id": merged.pk}
    )
    survivor.refresh_from_db()
    return survivor


def customer_delete(*, customer: Customer, actor: Any) -> None:
    """Erase a customer and everything recorded about them (their right to be forgotten); the
    audit entry keeps only that it happened, by whom, and the number of interactions."""
    customer_id = customer.pk
    with transaction.atomic():
        count = Interaction.objects.filter(customer=customer).count()
        audit_record(
            action="customer.deleted",
            actor=actor,
            object_type="journeys.customer",
            object_id=customer.pk,
            data={"interactions": count},
        )
        customer.delete()
    logger.info("journeys.customer.deleted", extra={"customer_id": customer_id})
