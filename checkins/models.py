from django.conf import settings
from django.db import models
from django.utils import timezone


class CheckIn(models.Model):
    """One check-in of one user on one local calendar date."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="checkins",
        # The (user, date) unique index leads with user_id and also serves
        # newest-first history; a second index would only slow every insert.
        db_index=False,
    )
    date = models.DateField(help_text="The user's local date of the check-in.")
    streak = models.PositiveIntegerField(help_text="The streak this check-in reached.")
    freezes_used = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "check-in"
        constraints = [
            # The backstop behind the state-row lock: one check-in per user and day.
            models.UniqueConstraint(
                fields=["user", "date"],
                name="checkins_checkin_user_date_unique",
                violation_error_code="already_checked_in",
                violation_error_message="Already checked in on this date.",
            ),
            models.CheckConstraint(
                condition=models.Q(streak__gte=1), name="checkins_checkin_streak_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.date}"
