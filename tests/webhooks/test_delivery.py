"""Sending: attempts recorded for every outcome, backoff with a cap, claims, the sweep, replay."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from cxm.webhooks import services, transport
from cxm.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.webhooks.conftest import RawServer, subscribe

pytestmark = pytest.mark.django_db


def _publish(captured_jobs, data=None):
    services.event_publish("customer.updated", data or {"customer_id": 1, "changed": ["name"]})
    captured_jobs.commit()


def _due_now(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_backoff_doubles_from_30_seconds_and_is_capped_at_6_hours():
    delays = [services.retry_delay(n) for n in range(1, 12)]
    assert delays[:9] == [30, 60, 120, 240, 480, 960, 1920, 3840, 7680]
    assert services.retry_delay(10) == 15360
    assert services.retry_delay(11) == 21600  # 6 h: the cap
    assert services.retry_delay(30) == 6 * 3600
    assert services.MAX_ATTEMPTS == 10


def test_a_failing_receiver_is_retried_on_schedule_then_failed(
    receiver, private_targets, captured_jobs
):
    receiver.answer = (500, b"Internal Server Error")
    subscription = subscribe(receiver.url)
    _publish(captured_jobs)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 0
    for n in range(1, services.MAX_ATTEMPTS + 1):
        before = timezone.now()
        services.delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.attempts == n
        assert delivery.last_status_code == 500
        assert delivery.claimed_until is None
        if n < services.MAX_ATTEMPTS:
            assert delivery.status == "pending"
            wait = (delivery.next_attempt_at - before).total_seconds()
            assert services.retry_delay(n) - 1 <= wait <= services.retry_delay(n) + 2
            # Not due yet: a duplicate task does nothing.
            assert services.delivery_attempt(delivery_id=delivery.pk) is None
            _due_now(delivery)
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == services.MAX_ATTEMPTS
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [a.number for a in attempts] == list(range(1, 11))
    assert all(a.status_code == 500 and "500" in a.error for a in attempts)
    assert attempts[0].response_excerpt == "Internal Server Error"
    # A finished delivery is never sent again by a stray task.
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert subscription.deliveries.count() == 1


def test_redirects_are_not_followed(receiver, private_targets, captured_jobs):
    receiver.answer = (302, b"", {"Location": "http://127.0.0.1:1/elsewhere"})
    subscribe(receiver.url)
    _publish(captured_jobs)
    captured_jobs.run_all()
    delivery = WebhookDelivery.objects.get()
    attempt = WebhookAttempt.objects.get()
    assert len(receiver.requests) == 1
    assert attempt.status_code == 302 and not attempt.ok
    assert "Redirect to http://127.0.0.1:1/elsewhere not followed" in attempt.error
    assert delivery.status == "pending" and delivery.next_attempt_at > timezone.now()


def test_a_slow_receiver_times_out_and_the_attempt_says_so(
    receiver, private_targets, captured_jobs, monkeypatch
):
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT", 0.5)
    receiver.delay = 2.0
    subscribe(receiver.url)
    _publish(captured_jobs)
    started = timezone.now()
    captured_jobs.run_all()
    took = (timezone.now() - started).total_seconds()
    attempt = WebhookAttempt.objects.get()
    assert took < 1.8
    assert attempt.status_code is None
    assert "No complete answer within" in attempt.error
    assert 400 <= attempt.duration_ms < 1800
    assert WebhookDelivery.objects.get().status == "pending"


def test_a_receiver_that_trickles_bytes_is_cut_off_at_the_deadline(
    private_targets, captured_jobs, monkeypatch
):
    import socketserver
    import time

    class Trickle(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            try:
                for _ in range(40):
                    self.request.sendall(b"H")
                    time.sleep(0.1)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT", 0.6)
    try:
        subscribe(f"http://127.0.0.1:{server.server_address[1]}/")
        _publish(captured_jobs)
        started = time.monotonic()
        captured_jobs.run_all()
        assert time.monotonic() - started < 2.0
    finally:
        server.shutdown()
        server.server_close()
    assert "No complete answer within" in WebhookAttempt.objects.get().error


@pytest.mark.parametrize(
    "reply",
    [b"this is not http\r\n\r\n", b"", b"HTTP/1.1 abc\r\n\r\n", b"\x00\xff\xfe garbage" * 50],
)
def test_garbage_answers_are_recorded_not_raised(private_targets, captured_jobs, reply):
    server = RawServer(reply)
    try:
        subscribe(server.url)
        _publish(captured_jobs)
        captured_jobs.run_all()
    finally:
        server.shutdown()
        server.server_close()
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1


def test_garbage_in_a_2xx_body_is_stored_as_text(receiver, private_targets, captured_jobs):
    receiver.answer = (200, b"\x00\xff ok" + b"x" * 5000)
    subscribe(receiver.url)
    _publish(captured_jobs)
    captured_jobs.run_all()
    attempt = WebhookAttempt.objects.get()
    assert attempt.ok
    assert len(attempt.response_excerpt) == transport.EXCERPT_CHARS
    assert "\x00" not in attempt.response_excerpt
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded" and delivery.delivered_at is not None


def test_a_refused_connection_is_a_failed_attempt(private_targets, captured_jobs):
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subscribe(f"http://127.0.0.1:{port}/")
    _publish(captured_jobs)
    captured_jobs.run_all()
    attempt = WebhookAttempt.objects.get()
    assert "Connection refused" in attempt.error or "ConnectionRefused" in attempt.error


def test_the_claim_lets_one_of_two_tasks_through(receiver, private_targets, captured_jobs):
    subscribe(receiver.url)
    _publish(captured_jobs)
    delivery = WebhookDelivery.objects.get()
    first = services._claim(delivery.pk)
    assert first is not None and first.attempts == 1
    assert services._claim(delivery.pk) is None
    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # claimed: left alone
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_two_tasks_racing_for_one_delivery_send_it_once(receiver, private_targets, captured_jobs):
    receiver.delay = 0.3
    subscribe(receiver.url)
    services.event_publish("customer.updated", {"customer_id": 1, "changed": ["name"]})
    delivery = WebhookDelivery.objects.get()
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            services.delivery_attempt(delivery_id=delivery.pk)
        finally:
            connection.close()

    runs = [threading.Thread(target=run) for _ in range(4)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.count() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)


def test_the_sweep_queues_due_retries_and_lost_tasks_only(receiver, private_targets, captured_jobs):
    subscribe(receiver.url)
    for n in range(4):
        services.event_publish("customer.updated", {"customer_id": n, "changed": ["name"]})
    captured_jobs.commit()
    captured_jobs.sent.clear()
    fresh, retry_due, retry_later, lost = WebhookDelivery.objects.order_by("id")
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=retry_due.pk).update(
        attempts=1, queued_at=None, next_attempt_at=now - dt.timedelta(seconds=1)
    )
    WebhookDelivery.objects.filter(pk=retry_later.pk).update(
        attempts=1, queued_at=None, next_attempt_at=now + dt.timedelta(minutes=5)
    )
    WebhookDelivery.objects.filter(pk=lost.pk).update(
        queued_at=now - services.REQUEUE_AFTER - dt.timedelta(seconds=1),
        next_attempt_at=now - services.REQUEUE_AFTER,
    )
    assert services.deliveries_requeue() == 2
    captured_jobs.commit()
    # Oldest due first: the lost one was due five minutes ago.
    assert [kw["delivery_ids"] for _n, kw in captured_jobs.sent] == [[lost.pk, retry_due.pk]]
    # Queued now: the next sweep leaves them to their tasks.
    assert services.deliveries_requeue() == 0
    captured_jobs.run_all()
    assert {d.pk: d.status for d in WebhookDelivery.objects.all()} == {
        fresh.pk: "pending",
        retry_due.pk: "succeeded",
        retry_later.pk: "pending",
        lost.pk: "succeeded",
    }


def test_replay_starts_a_new_cycle_with_the_same_event_id(
    receiver, private_targets, captured_jobs, admin_user
):
    receiver.answer = (503, b"busy")
    subscribe(receiver.url)
    _publish(captured_jobs)
    captured_jobs.run_all()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    receiver.answer = (200, b"thanks")
    services.delivery_replay(delivery=delivery, by=admin_user)
    captured_jobs.run_all()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.cycle, delivery.attempts) == ("succeeded", 2, 1)
    assert [(a.cycle, a.number, a.status_code) for a in delivery.tries.order_by("id")] == [
        (1, 1, 503),
        (2, 1, 200),
    ]
    first, second = (r.body for r in receiver.requests)
    assert first == second or __import__("json").loads(first) == __import__("json").loads(second)


def test_a_switched_off_subscription_sends_nothing(
    receiver, private_targets, captured_jobs, admin_user
):
    subscription = subscribe(receiver.url)
    _publish(captured_jobs)
    services.subscription_update(
        subscription=subscription,
        name=subscription.name,
        url=subscription.url,
        events=subscription.events,
        format="json",
        is_active=False,
        by=admin_user,
    )
    captured_jobs.run_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "switched off" in delivery.last_error
    assert receiver.requests == []
    # And nothing new is published for it.
    _publish(captured_jobs)
    assert WebhookDelivery.objects.count() == 1


def test_purge_removes_old_finished_deliveries_and_deleted_subscriptions(
    receiver, private_targets, captured_jobs, admin_user
):
    keep = subscribe(receiver.url, name="Keep")
    gone = subscribe(receiver.url, name="Gone")
    _publish(captured_jobs)
    captured_jobs.run_all()
    _publish(captured_jobs)
    old = timezone.now() - dt.timedelta(days=31)
    WebhookDelivery.objects.filter(status="succeeded").update(created_at=old)
    services.subscription_delete(subscription=gone, by=admin_user)
    assert services.deliveries_purge() >= 1
    # The finished old ones are gone; the pending new one stays.
    assert set(WebhookDelivery.objects.values_list("subscription_id", "status")) == {
        (keep.pk, "pending"),
        (gone.pk, "failed"),
    }
    services.deliveries_purge(now=timezone.now() + dt.timedelta(days=2))
    assert not WebhookDelivery.objects.filter(subscription_id=gone.pk).exists()
    assert not type(gone).objects.filter(pk=gone.pk).exists()


def test_a_failing_receiver_hands_the_rest_of_the_event_to_tasks_of_their_own(
    receiver, private_targets, captured_jobs
):
    """One task sends an event's deliveries; after a failure the others go out in parallel, so
    one bad receiver delays them by one attempt at most."""
    receiver.answer = lambda handler: (500, b"") if "/bad" in handler.path else (200, b"ok")
    good = subscribe(receiver.url + "?n=1", name="First")
    bad = subscribe(receiver.url + "/bad", name="Bad")
    later = [subscribe(receiver.url + f"?n={n}", name=f"Later {n}") for n in (3, 4)]
    _publish(captured_jobs)
    ((name, kwargs),) = captured_jobs.sent
    assert name == "webhooks.deliver" and len(kwargs["delivery_ids"]) == 4
    captured_jobs.sent.clear()
    sent = services.deliveries_attempt(delivery_ids=kwargs["delivery_ids"])
    assert sent == 2  # the first, then the bad one
    captured_jobs.commit()
    rest = [WebhookDelivery.objects.get(subscription=s).pk for s in later]
    assert [kw["delivery_ids"] for _n, kw in captured_jobs.sent] == [[pk] for pk in rest]
    captured_jobs.run_all()
    status = dict(WebhookDelivery.objects.values_list("subscription_id", "status"))
    assert status == {good.pk: "succeeded", bad.pk: "pending", **{s.pk: "succeeded" for s in later}}


def test_the_portable_path_for_other_databases_behaves_the_same(
    receiver, private_targets, captured_jobs, monkeypatch
):
    """The claim and the record without PostgreSQL's one-statement SQL (the SQLite default)."""
    monkeypatch.setattr(services, "_one_statement", lambda: False)
    receiver.answer = (500, b"busy")
    subscribe(receiver.url)
    _publish(captured_jobs)
    delivery = WebhookDelivery.objects.get()
    assert services._claim(delivery.pk) is not None
    assert services._claim(delivery.pk) is None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=None, attempts=0)
    captured_jobs.run_all()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    receiver.answer = (200, b"ok")
    _due_now(delivery)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert list(delivery.tries.values_list("number", "status_code")) == [(1, 500), (2, 200)]


def test_a_2xx_whose_body_never_ends_still_counts_as_delivered(
    private_targets, captured_jobs, monkeypatch
):
    import socketserver
    import time

    class Stalls(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthanks")
            time.sleep(2)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Stalls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT", 0.5)
    try:
        subscribe(f"http://127.0.0.1:{server.server_address[1]}/")
        _publish(captured_jobs)
        captured_jobs.run_all()
    finally:
        server.shutdown()
        server.server_close()
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.ok and attempt.response_excerpt == "thanks"
    assert WebhookDelivery.objects.get().status == "succeeded"
