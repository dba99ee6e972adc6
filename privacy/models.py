from django.db import models


class Erasure(models.Model):
    """An account was erased. No personal data: a keyed hash of the account's
    id (``privacy.services.subject_hash``), when, who asked (the account holder
    or staff) and the staff's reason. Which staff member erased it is in the
    admin log of this row, not here."""

    class Source(models.TextChoices):
        SELF = "self", "the account holder (DELETE /me)"
        STAFF = "staff", "staff (admin action)"

    id = models.BigAutoField(primary_key=True)
    subject = models.CharField(
        max_length=64,
        db_index=True,
        help_text="HMAC-SHA256 of the erased account's id, keyed from SECRET_KEY (hex).",
    )
    erased_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source="self") | ~models.Q(reason=""),
                name="privacy_erasure_staff_reason_required",
                violation_error_code="reason_required",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=["self", "staff"]),
                name="privacy_erasure_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.source}, {self.erased_at:%Y-%m-%d %H:%M})"
