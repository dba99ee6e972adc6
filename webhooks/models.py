from django.db import models
from django.db.models import Q

from events.models import Event, EventType


class WebhookEndpoint(models.Model):
    """A URL that receives signed events (Standard Webhooks), managed by staff."""

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The event types it receives; empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    # ``whsec_`` + base64 of 32 random bytes; shown once, when created or rotated.
    secret = models.CharField(max_length=100, editable=False)
    # After a rotation, deliveries are signed with both secrets until this time,
    # so the receiver can switch without dropping any.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    # Since when every attempt has failed (None: the last attempt succeeded).
    failing_since = models.DateTimeField(null=True, blank=True)
    # Events created from this time on are delivered; set when it (re)activates.
    subscribed_from = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "webhook endpoint"
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"),
                name="webhooks_endpoint_url_http",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Delivery(models.Model):
    """One event to one endpoint: at least once, retried with backoff until
    ``give_up_at``, then dead. Unique per (endpoint, event): a replay re-opens
    the same row."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    give_up_at = models.DateTimeField()
    # An attempt in flight holds the row until then (a worker killed
    # mid-attempt leaves it to expire; the sweep then retries).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_response_excerpt = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhooks_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "dead"]),
                name="webhooks_delivery_status_valid",
            ),
        ]
        indexes = [
            # The sweep: pending deliveries by due time.
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhooks_delivery_endpoint_idx"),
            models.Index(fields=["event"], name="webhooks_delivery_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to {self.endpoint_id}"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery, as the admin shows it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "attempted_at"], name="webhooks_attempt_idx")]

    def __str__(self) -> str:
        return f"attempt at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class PendingFanOut(models.Model):
    """Events some endpoint receives, waiting for their deliveries: the outbox.

    Written by the change that recorded the events, in its own statement (one
    more data-modifying CTE on PostgreSQL), so the hot path pays no round trip
    and no task row for a subscribed endpoint. The relay (``webhooks.tasks.
    relay``) claims rows with SKIP LOCKED, creates their deliveries and deletes
    them in one transaction. No index but the key: rows live for seconds."""

    event_ids = models.JSONField()  # the ids of the events, as strings
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "pending fan-out"

    def __str__(self) -> str:
        return f"{len(self.event_ids)} events at {self.created_at:%Y-%m-%d %H:%M:%S}"
