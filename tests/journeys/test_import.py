from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cxm.errors import ApplicationError
from journeys import services
from journeys.models import Customer, CustomerImport
from journeys.services import ImportFileError, customers_import_stream
from tests.conftest import ROOT, subprocess_database_url, wait_for

pytestmark = pytest.mark.django_db

GOOD_AND_BAD = (
    "external_id,name,email,phone,language,attributes.city\n"
    "A1,Ann Smit,ann@example.com,0612345678,nl,Utrecht\n"
    "A2,Bad Mail,not-an-email,,en,\n"
    "A3,Bad Phone,bad@example.com,12,ro,\n"
    "A4,Too,many,columns,here,x,y\n"
    "A1,Ann Smit-de Vries,,,,\n"
    "A5,Ok Five,five@example.com,+40 721 234 567,ro,Cluj\n"
)


def _import(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    reports = []
    stats = customers_import_stream(
        stream=io.BytesIO(data), on_chunk=lambda s, e, p: reports.extend(e)
    )
    return stats, reports


def test_good_rows_are_kept_and_bad_rows_reported():
    stats, errors = _import(GOOD_AND_BAD)
    assert (stats.seen, stats.created, stats.updated, stats.failed) == (6, 2, 1, 3)
    assert [(e.row_number, e.field) for e in errors] == [(3, "email"), (4, "phone"), (5, "")]
    ann = Customer.objects.get(external_id="A1")
    assert (
        ann.name == "Ann Smit-de Vries" and ann.email == "ann@example.com"
    )  # empty cells keep values
    assert ann.phone == "+31612345678" and ann.attributes == {"city": "Utrecht"}
    assert Customer.objects.get(external_id="A5").phone == "+40721234567"


def test_rows_upsert_on_email_and_phone():
    services.customers_upsert(
        [{"email": "keep@example.com", "name": "Old"}, {"phone": "+31612345679", "name": "Phone"}]
    )
    stats, _ = _import("email,phone,name\nKEEP@example.com,,New\n,06 12345679,Phone Person\n")
    assert (stats.created, stats.updated) == (0, 2)
    assert Customer.objects.get(email="keep@example.com").name == "New"
    assert Customer.objects.get(phone="+31612345679").name == "Phone Person"


def test_a_row_matching_two_customers_is_rejected_not_guessed():
    services.customers_upsert(
        [
            {"external_id": "X", "email": "x@example.com"},
            {"external_id": "Y", "email": "y@example.com"},
        ]
    )
    stats, errors = _import("external_id,email\nX,y@example.com\n")
    assert stats.failed == 1 and errors[0].field == "email"
    assert Customer.objects.get(external_id="X").email == "x@example.com"


def test_duplicate_rows_make_one_customer():
    stats, _ = _import("email,name\nsame@example.com,A\nsame@example.com,A\nSAME@example.com,B\n")
    assert Customer.objects.filter(email="same@example.com").count() == 1
    assert (stats.created, stats.unchanged, stats.updated) == (1, 1, 1)


def test_broken_encoding_fails_only_its_row():
    data = (
        "email,name\nok@example.com,Zoë\n".encode()
        + b"latin@example.com,Zo\xeb\n"
        + b"ok2@example.com,Ok\n"
    )
    stats, errors = _import(data)
    assert (stats.created, stats.failed) == (2, 1)
    assert errors[0].row_number == 3 and errors[0].field == "name" and "UTF-8" in errors[0].reason
    assert Customer.objects.get(email="ok@example.com").name == "Zoë"


def test_utf8_bom_from_spreadsheets_is_accepted():
    stats, _ = _import("\ufeffemail,name\nbom@example.com,Bom\n")
    assert stats.created == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mail,naam\nx@example.com,X\n", "Unknown column"),
        ("name,language\nX,nl\n", "at least one of the columns"),
        ("email,email\nx@example.com,y@example.com\n", "appears twice"),
        ("", "empty"),
    ],
)
def test_a_wrong_header_refuses_the_whole_file(text, message):
    with pytest.raises(ImportFileError, match=message):
        _import(text)
    assert not Customer.objects.exists()


def test_rows_are_written_in_chunks_with_progress(monkeypatch):
    monkeypatch.setattr(services.customers, "IMPORT_CHUNK_ROWS", 10)
    positions = []
    text = "external_id\n" + "".join(f"C{i}\n" for i in range(35))
    customers_import_stream(
        stream=io.BytesIO(text.encode()), on_chunk=lambda s, e, p: positions.append((s.seen, p))
    )
    assert [seen for seen, _ in positions] == [10, 20, 30, 35]
    assert Customer.objects.count() == 35


def test_upload_over_the_limit_is_refused(settings, agent):
    settings.CUSTOMER_IMPORT_MAX_BYTES = 100
    upload = SimpleUploadedFile(
        "big.csv", b"email\n" + b"x@example.com\n" * 20, content_type="text/csv"
    )
    with pytest.raises(ApplicationError, match="limit"):
        services.customer_import_start(upload=upload, user=agent)
    assert not CustomerImport.objects.exists()


def test_upload_with_wrong_header_is_refused_at_once(client, cx_lead):
    client.force_login(cx_lead)
    upload = SimpleUploadedFile("c.csv", b"foo,bar\n1,2\n", content_type="text/csv")
    response = client.post(reverse("journeys:customer-import"), {"file": upload})
    assert response.status_code == 200
    assert "Unknown column" in response.content.decode()
    assert not CustomerImport.objects.exists()


def test_upload_runs_as_a_job_and_the_report_lists_bad_rows(client, cx_lead, captured_jobs):
    client.force_login(cx_lead)
    upload = SimpleUploadedFile("c.csv", GOOD_AND_BAD.encode(), content_type="text/csv")
    response = client.post(reverse("journeys:customer-import"), {"file": upload})
    record = CustomerImport.objects.get()
    assert response.status_code == 302
    captured_jobs.commit()
    assert captured_jobs.names() == ["journeys.customer_import_run"]
    captured_jobs.run_all()
    record.refresh_from_db()
    assert record.status == "done" and record.rows_failed == 3 and record.percent == 100
    page = client.get(reverse("journeys:customer-import-detail", args=[record.pk])).content.decode()
    assert "Not a valid email address." in page and "Has 7 columns" in page
    errors_csv = b"".join(
        client.get(reverse("journeys:customer-import-errors", args=[record.pk])).streaming_content
    )
    assert errors_csv.decode().count("\n") == 4


def test_running_an_import_twice_changes_nothing_more(cx_lead, captured_jobs):
    upload = SimpleUploadedFile("c.csv", GOOD_AND_BAD.encode(), content_type="text/csv")
    record = services.customer_import_start(upload=upload, user=cx_lead)
    services.customer_import_run(import_id=record.pk)
    CustomerImport.objects.filter(pk=record.pk).update(status="running")  # as if redelivered
    services.customer_import_run(import_id=record.pk)
    record.refresh_from_db()
    assert Customer.objects.count() == 2
    assert record.row_errors.count() == 3


def test_agents_cannot_import(client, agent):
    client.force_login(agent)
    assert client.get(reverse("journeys:customer-import")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_import_customers_command(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(GOOD_AND_BAD)
    result = subprocess.run(
        [sys.executable, "manage.py", "import_customers", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": subprocess_database_url()},
    )
    assert result.returncode == 0, result.stderr
    assert "6 rows" in result.stdout and "3 rejected" in result.stdout
    assert "row 3 [email]: Not a valid email address." in result.stderr
    assert Customer.objects.count() == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_import_through_the_real_worker(celery_worker, cx_lead):
    upload = SimpleUploadedFile("c.csv", GOOD_AND_BAD.encode(), content_type="text/csv")
    record = services.customer_import_start(upload=upload, user=cx_lead)
    wait_for(lambda: CustomerImport.objects.get(pk=record.pk).finished, timeout=30)
    record.refresh_from_db()
    assert record.status == "done" and (record.rows_created, record.rows_failed) == (2, 3)


def test_a_50_mb_file_with_an_unreadable_row_keeps_the_rows_before_it():
    # A 50 MB file: a good row, then one cell far over the CSV field limit (a binary blob
    # pasted into a spreadsheet). The stream stops there with a clear message; memory stays flat.
    big = (
        b"email,name\nfirst@example.com,First\nsecond@example.com,"
        + b"x" * (50 * 1024 * 1024)
        + b"\n"
    )
    reports = []
    with pytest.raises(ImportFileError, match="Row 3 cannot be read"):
        customers_import_stream(
            stream=io.BytesIO(big), on_chunk=lambda s, e, p: reports.append(s.seen)
        )
    assert list(Customer.objects.values_list("email", flat=True)) == ["first@example.com"]


def test_an_update_moves_updated_at_so_syncs_see_it():
    services.customers_upsert([{"external_id": "U1", "name": "Old"}])
    before = Customer.objects.get(external_id="U1").updated_at
    _import("external_id,name\nU1,New\n")
    after = Customer.objects.get(external_id="U1")
    assert after.name == "New" and after.updated_at > before


def test_the_sweeper_requeues_imports_whose_task_was_lost(cx_lead, captured_jobs):
    import datetime as dt

    from django.utils import timezone

    upload = SimpleUploadedFile("c.csv", GOOD_AND_BAD.encode(), content_type="text/csv")
    record = services.customer_import_start(upload=upload, user=cx_lead)
    captured_jobs.commit()
    captured_jobs.sent.clear()  # the task is lost
    CustomerImport.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert services.customer_imports_requeue() == 1
    captured_jobs.run_all()
    record.refresh_from_db()
    assert record.status == "done" and record.rows_created == 2
