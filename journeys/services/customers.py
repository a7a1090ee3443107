"""Every write to customers: cleaning and bulk upsert (UI form, API and CSV alike) and CSV imports.

A row is a plain ``dict`` of strings (CSV) or JSON values (API). ``customer_clean`` turns it into
typed values plus per-field errors; ``customers_upsert`` matches cleaned rows to existing customers
by external id, then email, then phone, and writes a whole batch with a handful of queries.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.errors import ApplicationError
from cxm.jobs import Job, enqueue_on_commit
from journeys.models import (
    CUSTOMER_LANGUAGES,
    Channel,
    Customer,
    CustomerImport,
    CustomerImportError,
)

logger = logging.getLogger(__name__)

FIELDS = (
    "external_id",
    "name",
    "email",
    "phone",
    "language",
    "preferred_channel",
    "timezone",
    "became_customer_on",
    "churned_on",
    "value",
    "attributes",
)
IDENTITY_FIELDS = ("external_id", "email", "phone")
ATTRIBUTE_PREFIX = "attributes."
MAX_ATTRIBUTES_BYTES = 16 * 1024
_LANGUAGE_CODES = {code.lower(): code for code, _name in CUSTOMER_LANGUAGES}
_CHANNELS = {value for value, _label in Channel.choices}
_TIMEZONES = {name.lower(): name for name in zoneinfo.available_timezones()}
_EMPTY: dict[str, Any] = {
    "external_id": None,
    "became_customer_on": None,
    "churned_on": None,
    "value": None,
    "attributes": {},
}


@dataclass
class CleanRow:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 for a phone number written any common way; ``ValueError`` when it is not one."""
    try:
        number = phonenumbers.parse(raw, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_("Not a phone number.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_("Not a valid phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValueError(_("Not a valid email address.")) from exc
    if len(email) > 254:
        raise ValueError(_("Longer than 254 characters."))
    return email


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(_("Must be text."))
    value = value.strip()
    if len(value) > limit:
        raise ValueError(_("Longer than %(limit)d characters.") % {"limit": limit})
    if "\x00" in value:
        raise ValueError(_("Contains a NUL character."))
    return value


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = _text(value, 32)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ValueError(_("Not a date (use YYYY-MM-DD).")) from exc


def _clean_value(name: str, value: Any) -> Any:
    """One field, raising ``ValueError`` with a message for the person who sent it."""
    if name == "external_id":
        return _text(value, 100) or None
    if name == "name":
        return _text(value, 200)
    if name == "email":
        text = _text(value, 254)
        return normalize_email(text) if text else ""
    if name == "phone":
        text = _text(value, 40)
        return normalize_phone(text) if text else ""
    if name == "language":
        text = _text(value, 16).replace("_", "-").lower()
        if not text:
            return ""
        if text not in _LANGUAGE_CODES:
            raise ValueError(_("Unknown language code."))
        return _LANGUAGE_CODES[text]
    if name == "preferred_channel":
        text = _text(value, 16).lower()
        if text and text not in _CHANNELS:
            raise ValueError(
                _("Must be one of: %(choices)s.") % {"choices": ", ".join(sorted(_CHANNELS))}
            )
        return text
    if name == "timezone":
        text = _text(value, 64)
        if not text:
            return ""
        if text.lower() not in _TIMEZONES:
            raise ValueError(_("Unknown timezone (use a name such as Europe/Amsterdam)."))
        return _TIMEZONES[text.lower()]
    if name in ("became_customer_on", "churned_on"):
        return _date(value)
    if name == "value":
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ValueError(_("Must be a number."))
        try:
            number = Decimal(str(value).strip().replace(",", "."))
        except InvalidOperation as exc:
            raise ValueError(_("Must be a number.")) from exc
        if not number.is_finite() or abs(number) >= Decimal("1e12"):
            raise ValueError(_("Must be a number below one trillion."))
        return number.quantize(Decimal("0.01"))
    if name == "attributes":
        if not isinstance(value, dict):
            raise ValueError(_("Must be an object of names and values."))
        import json

        if len(json.dumps(value, default=str)) > MAX_ATTRIBUTES_BYTES:
            raise ValueError(_("Attributes are larger than 16 KB."))
        return value
    raise ValueError(_("Unknown field."))


def customer_clean(
    row: Mapping[str, Any], *, partial: bool = True, require_identity: bool = True
) -> CleanRow:
    """Clean one input row. Keys absent from ``row`` stay absent (they will not be changed).

    ``attributes.<name>`` keys (CSV columns) are gathered into ``attributes``. An empty CSV cell
    leaves the stored value as it is, so a sparse file never erases data.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    attributes: dict[str, Any] = {}
    for key, raw in row.items():
        if key.startswith(ATTRIBUTE_PREFIX):
            name = key[len(ATTRIBUTE_PREFIX) :].strip()
            if raw not in (None, ""):
                attributes[name] = raw
            continue
        if key not in FIELDS:
            errors[key] = _("Unknown field.")
            continue
        if raw is None:
            values[key] = _EMPTY.get(key, "")
            continue
        if partial and raw == "" and isinstance(raw, str):
            continue
        try:
            values[key] = _clean_value(key, raw)
        except ValueError as exc:
            errors[key] = str(exc)
    if attributes:
        merged = {**values.get("attributes", {}), **attributes}
        try:
            values["attributes"] = _clean_value("attributes", merged)
        except ValueError as exc:
            errors["attributes"] = str(exc)
    if require_identity and not errors and not any(values.get(key) for key in IDENTITY_FIELDS):
        errors["external_id"] = _("Give at least one of external_id, email or phone.")
    return CleanRow(values=values, errors=errors)


@dataclass
class UpsertResult:
    """One input row's outcome: ``created``, ``updated``, ``unchanged`` or ``rejected``."""

    index: int
    status: str
    customer: Customer | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _key_maps(
    customers: Iterable[Customer],
) -> tuple[dict[str, Customer], dict[str, Customer], dict[str, Customer]]:
    by_ext: dict[str, Customer] = {}
    by_email: dict[str, Customer] = {}
    by_phone: dict[str, Customer] = {}
    for customer in customers:
        if customer.external_id:
            by_ext[customer.external_id] = customer
        if customer.email:
            by_email[customer.email.lower()] = customer
        if customer.phone:
            by_phone[customer.phone] = customer
    return by_ext, by_email, by_phone


def _fetch_matches(rows: list[CleanRow]) -> list[Customer]:
    ext = {r.values["external_id"] for r in rows if r.values.get("external_id")}
    emails = {r.values["email"] for r in rows if r.values.get("email")}
    phones = {r.values["phone"] for r in rows if r.values.get("phone")}
    query = Q()
    if ext:
        query |= Q(external_id__in=ext, external_id__isnull=False)
    if emails:
        # The literal "<> ''" lets PostgreSQL use the partial unique indexes.
        query |= Q(email_lower__in=emails) & ~Q(email="")
    if phones:
        query |= Q(phone__in=phones) & ~Q(phone="")
    if not query:
        return []
    # Lower(email) matches the expression index behind the case-insensitive unique constraint.
    return list(Customer.objects.annotate(email_lower=Lower("email")).filter(query).order_by())


def customers_upsert(
    rows: list[Mapping[str, Any]] | list[CleanRow], *, inside_transaction: bool = False
) -> list[UpsertResult]:
    """Create or update many customers at once; each row succeeds or fails on its own.

    Rows are matched by external id, then email, then phone. A row whose identities point at two
    different customers is rejected rather than guessed at. Runs in one transaction; if a
    concurrent writer makes the batch insert collide, the batch is retried row by row.
    """
    cleaned = [r if isinstance(r, CleanRow) else customer_clean(r) for r in rows]
    if inside_transaction:
        # The caller's transaction (and its own retry on IntegrityError) covers the batch; a
        # savepoint here would only add two round trips per call.
        return _upsert_batch(cleaned)
    try:
        with transaction.atomic():
            return _upsert_batch(cleaned)
    except IntegrityError:
        results = []
        for index, row in enumerate(cleaned):
            try:
                with transaction.atomic():
                    result = _upsert_batch([row])[0]
            except IntegrityError:
                result = UpsertResult(
                    index=0,
                    status="rejected",
                    errors={"email": _("Conflicts with another customer.")},
                )
            result.index = index
            results.append(result)
        return results


def _upsert_batch(cleaned: list[CleanRow]) -> list[UpsertResult]:
    valid = [r for r in cleaned if r.ok]
    by_ext, by_email, by_phone = _key_maps(_fetch_matches(valid))
    results: list[UpsertResult] = []
    to_create: list[Customer] = []
    to_update: dict[int, Customer] = {}
    changed_fields: set[str] = set()

    for index, row in enumerate(cleaned):
        if not row.ok:
            results.append(UpsertResult(index=index, status="rejected", errors=row.errors))
            continue
        v = row.values
        candidates = [
            ("external_id", by_ext.get(v["external_id"]) if v.get("external_id") else None),
            ("email", by_email.get(v["email"]) if v.get("email") else None),
            ("phone", by_phone.get(v["phone"]) if v.get("phone") else None),
        ]
        found = [(name, c) for name, c in candidates if c is not None]
        targets = {id(c) for _name, c in found}
        if len(targets) > 1:
            first = found[0][1]
            clash_field = next(name for name, c in found if c is not first)
            results.append(
                UpsertResult(
                    index=index,
                    status="rejected",
                    errors={
                        clash_field: _("Belongs to another customer than the %(field)s does.")
                        % {"field": found[0][0]}
                    },
                )
            )
            continue
        customer = found[0][1] if found else None
        if (
            customer is not None
            and customer.external_id
            and v.get("external_id")
            and customer.external_id != v["external_id"]
        ):
            results.append(
                UpsertResult(
                    index=index,
                    status="rejected",
                    errors={
                        "external_id": _(
                            "This email or phone belongs to a customer with another external id."
                        )
                    },
                )
            )
            continue
        if customer is None:
            customer = Customer(**{k: v[k] for k in v})
            if customer.attributes is None:
                customer.attributes = {}
            to_create.append(customer)
            status = "created"
        else:
            status = "unchanged"
            for key, value in v.items():
                if key == "attributes":
                    value = {**(customer.attributes or {}), **value}
                if getattr(customer, key) != value:
                    setattr(customer, key, value)
                    changed_fields.add(key)
                    status = "updated"
            if status == "updated" and customer.pk:
                to_update[customer.pk] = customer
        # Later rows of the same batch find this customer by any of its identities.
        if customer.external_id:
            by_ext[customer.external_id] = customer
        if customer.email:
            by_email[customer.email.lower()] = customer
        if customer.phone:
            by_phone[customer.phone] = customer
        results.append(UpsertResult(index=index, status=status, customer=customer))

    if to_create:
        Customer.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        now = timezone.now()
        for customer in to_update.values():
            customer.updated_at = now  # bulk writes skip auto_now; syncs filter on updated_since
        # An upsert on the primary key: one INSERT … ON CONFLICT (id) DO UPDATE per batch.
        # bulk_update's CASE WHEN per row and field costs ~6x more to build (docs/performance.md).
        Customer.objects.bulk_create(
            list(to_update.values()),
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=sorted(changed_fields | {"updated_at"}),
            batch_size=1000,
        )
    return results


def customer_create(**values: Any) -> Customer:
    """Create one customer from raw input; ``ValidationError`` names the bad fields."""
    row = customer_clean(values, partial=False)
    if not row.ok:
        raise ValidationError(row.errors)
    result = customers_upsert([row])[0]
    if result.status == "rejected":
        raise ValidationError(result.errors)
    if result.status != "created":
        raise ValidationError({"external_id": _("A customer with this identity already exists.")})
    assert result.customer is not None
    return result.customer


def customer_update(*, customer: Customer, values: Mapping[str, Any]) -> Customer:
    """Change the given fields of one customer; identities stay unique."""
    row = customer_clean(values, partial=False, require_identity=False)
    if not row.ok:
        raise ValidationError(row.errors)
    v = row.values
    for key in IDENTITY_FIELDS:
        if (
            key in v
            and not v[key]
            and not any(
                v.get(other, getattr(customer, other)) for other in IDENTITY_FIELDS if other != key
            )
        ):
            raise ValidationError({key: _("Give at least one of external_id, email or phone.")})
    clashes = Customer.objects.exclude(pk=customer.pk)
    for key, lookup in (
        ("external_id", "external_id"),
        ("email", "email__iexact"),
        ("phone", "phone"),
    ):
        if v.get(key) and clashes.filter(**{lookup: v[key]}).exists():
            raise ValidationError(
                {
                    key: _("Another customer already has this %(field)s.")
                    % {"field": key.replace("_", " ")}
                }
            )
    changed = []
    for key, value in v.items():
        if key == "attributes" and value:
            value = {
                **(customer.attributes or {}),
                **value,
            }  # merged, as in the bulk upsert and CSV
        if getattr(customer, key) != value:
            changed.append(key)
        setattr(customer, key, value)
    try:
        with transaction.atomic():
            customer.save(update_fields=[*v.keys(), "updated_at"])
            if changed:
                _customer_updated_publish(customer, changed=changed)
    except IntegrityError as exc:
        raise ValidationError(
            {"email": _("Another customer already has this email or phone.")}
        ) from exc
    customer.refresh_from_db(fields=["search"])
    return customer


def _customer_updated_publish(customer: Customer, *, changed: list[str]) -> None:
    """Outgoing webhook ``customer.updated``, in the saving transaction (docs/webhooks.md). Only
    this one-customer update publishes it: bulk upserts and CSV imports do not."""
    from cxm.webhooks.services import event_publish, event_subscribed

    if not event_subscribed("customer.updated"):
        return
    event_publish(
        "customer.updated",
        {
            "customer_id": customer.pk,
            "changed": sorted(changed),
            "customer": {
                "id": customer.pk,
                "external_id": customer.external_id,
                "name": customer.name,
                "email": customer.email,
                "phone": customer.phone,
                "language": customer.language,
                "preferred_channel": customer.preferred_channel,
                "timezone": customer.timezone,
                "attributes": customer.attributes,
                "became_customer_on": customer.became_customer_on,
                "churned_on": customer.churned_on,
                "value": customer.value,
                "updated_at": customer.updated_at,
            },
        },
    )


# ------------------------------------------------------------------------------------------------
# CSV import: streamed, chunked, every row judged on its own.
# ------------------------------------------------------------------------------------------------
IMPORT_CHUNK_ROWS = 1000
IMPORT_MAX_STORED_ERRORS = 10_000
csv.field_size_limit(64 * 1024)


class ImportFileError(Exception):
    """The whole file is refused (wrong header, not CSV); nothing of it was written."""


@dataclass
class RowError:
    row_number: int
    field: str
    reason: str


@dataclass
class ImportStats:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


def _read_header(reader: Iterator[list[str]]) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    except (csv.Error, UnicodeError) as exc:
        raise ImportFileError(
            _("The file is not a readable CSV file: %(error)s") % {"error": exc}
        ) from exc
    names = [h.strip().lower().replace(" ", "_") for h in header]
    if any(not _is_utf8(name) for name in names):
        raise ImportFileError(
            _("The header row is not UTF-8 text. Save the file as “CSV UTF-8” and try again.")
        )
    unknown = [n for n in names if n not in FIELDS and not n.startswith(ATTRIBUTE_PREFIX)]
    if unknown:
        raise ImportFileError(
            _(
                "Unknown column(s): %(unknown)s. Columns can be: %(known)s, and attributes.<name> for your own fields."
            )
            % {
                "unknown": ", ".join(unknown),
                "known": ", ".join(f for f in FIELDS if f != "attributes"),
            }
        )
    if len(set(names)) != len(names):
        raise ImportFileError(_("A column appears twice in the header row."))
    if not set(names) & set(IDENTITY_FIELDS):
        raise ImportFileError(
            _("The header needs at least one of the columns external_id, email or phone.")
        )
    return names


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _position(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except OSError:  # a pipe: no position, so no progress figure
        return 0


def customers_import_stream(
    *,
    stream: BinaryIO,
    on_chunk: Callable[[ImportStats, list[RowError], int], None],
) -> ImportStats:
    """Import a CSV from a binary stream, ``IMPORT_CHUNK_ROWS`` rows per transaction.

    The file is read as it goes (memory stays flat whatever its size). Bytes that are not UTF-8
    fail only the row they are in. After each chunk ``on_chunk(stats, errors, bytes_read)`` reports
    progress. ``ImportFileError`` refuses the whole file before any row was written.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    header = _read_header(reader)
    stats = ImportStats()
    chunk: list[tuple[int, CleanRow]] = []
    errors: list[RowError] = []

    def flush() -> None:
        rows = [row for _number, row in chunk]
        for (number, _row), result in zip(chunk, customers_upsert(rows), strict=True):
            if result.status == "rejected":
                stats.failed += 1
                errors.extend(
                    RowError(number, name, reason) for name, reason in result.errors.items()
                )
            else:
                setattr(stats, result.status, getattr(stats, result.status) + 1)
        chunk.clear()
        errors.sort(key=lambda e: e.row_number)
        on_chunk(stats, errors, _position(stream))
        errors.clear()

    row_number = 1  # the header is row 1, as in a spreadsheet
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            flush()  # keep the good rows read so far, as the message says
            raise ImportFileError(
                _("Row %(row)d cannot be read (%(error)s). The rows before it were imported.")
                % {"row": row_number + 1, "error": exc}
            ) from exc
        row_number += 1
        if not any(cell.strip() for cell in record):
            continue  # blank line
        stats.seen += 1
        if len(record) != len(header):
            stats.failed += 1
            errors.append(
                RowError(
                    row_number,
                    "",
                    _("Has %(got)d columns; the header has %(want)d.")
                    % {"got": len(record), "want": len(header)},
                )
            )
        else:
            bad = next(
                (name for name, cell in zip(header, record, strict=True) if not _is_utf8(cell)),
                None,
            )
            if bad is not None:
                stats.failed += 1
                errors.append(RowError(row_number, bad, _("Is not valid UTF-8 text.")))
            else:
                chunk.append((row_number, customer_clean(dict(zip(header, record, strict=True)))))
        if len(chunk) >= IMPORT_CHUNK_ROWS or len(errors) >= IMPORT_CHUNK_ROWS:
            flush()
    flush()
    return stats


def customer_import_start(*, upload: UploadedFile, user: Any) -> CustomerImport:
    """Store an uploaded CSV and import it in the background (``Job.CUSTOMER_IMPORT_RUN``)."""
    if upload.size is None or upload.size == 0:
        raise ApplicationError(_("The file is empty."), field="file")
    if upload.size > settings.CUSTOMER_IMPORT_MAX_BYTES:
        raise ApplicationError(
            _("The file is %(size)s; the limit is %(limit)s. Split it into smaller files.")
            % {
                "size": filesizeformat(upload.size),
                "limit": filesizeformat(settings.CUSTOMER_IMPORT_MAX_BYTES),
            },
            field="file",
        )
    # Check the header now, so a wrong file is refused on the spot instead of minutes later.
    upload.seek(0)
    try:
        _read_header(
            csv.reader(
                io.TextIOWrapper(
                    io.BytesIO(upload.read(64 * 1024)),
                    encoding="utf-8-sig",
                    errors="surrogateescape",
                    newline="",
                )
            )
        )
    except ImportFileError as exc:
        raise ApplicationError(str(exc), field="file") from exc
    upload.seek(0)
    with transaction.atomic():
        record = CustomerImport(
            original_name=(upload.name or "customers.csv")[:255],
            created_by=user,
            total_bytes=upload.size,
        )
        record.file.save(f"{uuid.uuid4().hex}.csv", upload, save=False)
        record.save()
        enqueue_on_commit(Job.CUSTOMER_IMPORT_RUN, import_id=record.pk)
    logger.info("journeys.customer_import.started", extra={"import_id": record.pk})
    return record


def customer_import_run(*, import_id: int) -> CustomerImport | None:
    """Run one stored import. Safe to run twice: a finished import is left alone, and a rerun of an
    interrupted one starts over (the upsert makes the rows it already wrote come out unchanged)."""
    with transaction.atomic():
        record = CustomerImport.objects.select_for_update().filter(pk=import_id).first()
        if record is None or record.finished:
            return record
        record.row_errors.all().delete()
        CustomerImport.objects.filter(pk=record.pk).update(
            status=CustomerImport.Status.RUNNING,
            started_at=timezone.now(),
            updated_at=timezone.now(),
            processed_bytes=0,
            rows_seen=0,
            rows_created=0,
            rows_updated=0,
            rows_unchanged=0,
            rows_failed=0,
            error="",
        )
    stored_errors = 0

    def on_chunk(stats: ImportStats, errors: list[RowError], position: int) -> None:
        nonlocal stored_errors
        room = max(0, IMPORT_MAX_STORED_ERRORS - stored_errors)
        if errors and room:
            CustomerImportError.objects.bulk_create(
                CustomerImportError(
                    customer_import_id=import_id,
                    row_number=e.row_number,
                    field=e.field[:100],
                    reason=e.reason[:500],
                )
                for e in errors[:room]
            )
            stored_errors += min(room, len(errors))
        CustomerImport.objects.filter(pk=import_id).update(
            updated_at=timezone.now(),  # the sweeper reads silence from it
            processed_bytes=position,
            rows_seen=stats.seen,
            rows_created=stats.created,
            rows_updated=stats.updated,
            rows_unchanged=stats.unchanged,
            rows_failed=stats.failed,
        )

    status, message = CustomerImport.Status.DONE, ""
    try:
        with record.file.open("rb") as stream:
            customers_import_stream(stream=stream, on_chunk=on_chunk)
    except ImportFileError as exc:
        status, message = CustomerImport.Status.FAILED, str(exc)
    except FileNotFoundError:
        status, message = (
            CustomerImport.Status.FAILED,
            _("The uploaded file is gone. Upload it again."),
        )
    except Exception:
        logger.exception("journeys.customer_import.crashed", extra={"import_id": import_id})
        status, message = (
            CustomerImport.Status.FAILED,
            _(
                "The import stopped on an unexpected error. The rows before it were imported; upload the file again to finish."
            ),
        )
    CustomerImport.objects.filter(pk=import_id).update(
        status=status, error=message, finished_at=timezone.now()
    )
    logger.info(
        "journeys.customer_import.finished", extra={"import_id": import_id, "status": status}
    )
    record.refresh_from_db()
    return record


def import_files_purge(*, older_than_days: int = 30) -> int:
    """Delete the stored CSV files of imports finished long ago; their reports stay."""
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    count = 0
    for record in CustomerImport.objects.filter(finished_at__lt=cutoff).exclude(file=""):
        record.file.delete(save=False)
        CustomerImport.objects.filter(pk=record.pk).update(file="")
        count += 1
    return count


def customer_imports_requeue(
    *,
    waiting: dt.timedelta = dt.timedelta(minutes=10),
    silent: dt.timedelta = dt.timedelta(minutes=30),
) -> int:
    """Imports whose task was lost: still waiting after 10 minutes, or running with no progress
    for 30 (the worker died). A rerun starts over and the upsert makes it come out the same."""
    now = timezone.now()
    stuck = list(
        CustomerImport.objects.filter(
            Q(status=CustomerImport.Status.PENDING, created_at__lt=now - waiting)
            | Q(status=CustomerImport.Status.RUNNING, updated_at__lt=now - silent)
        ).values_list("pk", flat=True)[:100]
    )
    with transaction.atomic():
        CustomerImport.objects.filter(pk__in=stuck, status=CustomerImport.Status.RUNNING).update(
            status=CustomerImport.Status.PENDING
        )
        for import_id in stuck:
            enqueue_on_commit(Job.CUSTOMER_IMPORT_RUN, import_id=import_id)
    return len(stuck)
