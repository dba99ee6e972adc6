from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` and the response it got, kept 24 hours.

    Scoped per user: the same key from two users is two keys.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="idempotency_keys",
        db_index=False,  # served by the (user, key) unique index
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        # The table, its constraint and its index keep the names they were
        # created with in the engagement app (no table is rebuilt for a move).
        db_table = "engagement_idempotencykey"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], name="engagement_idempotencykey_user_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="engagement_idemkey_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} of {self.user_id}"
