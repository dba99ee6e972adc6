from django.conf import settings
from django.db import models
from django.db.models import Q

from events.ids import new_event_id


class EventType(models.TextChoices):
    CHECKIN_CREATED = "checkin.created", "Check-in created"
    STREAK_EXTENDED = "streak.extended", "Streak extended"
    STREAK_FREEZE_CONSUMED = "streak.freeze_consumed", "Streak freeze consumed"
    STREAK_LOST = "streak.lost", "Streak lost"
    STREAK_AT_RISK = "streak.at_risk", "Streak at risk"
    STREAK_RESTORED = "streak.restored", "Streak restored"
    LEVEL_UP = "level.up", "Level up"
    REWARD_UNLOCKED = "reward.unlocked", "Reward unlocked"
    REWARD_CLAIMED = "reward.claimed", "Reward claimed"
    TOOL_PURCHASED = "tool.purchased", "Tool purchased"
    TOOL_USED = "tool.used", "Tool used"
    USER_DELETED = "user.deleted", "User deleted"


class Event(models.Model):
    """A domain event: written in the transaction of the state change that
    caused it (``events.services``), so it exists iff that change committed.
    Append-only."""

    Type = EventType

    # Time-ordered (events.ids): the events since T are a range of the primary key.
    id = models.UUIDField(primary_key=True, default=new_event_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="events",
        # None only for ``user.deleted``: the account it is about is gone.
        null=True,
        db_index=False,  # served by the feed index, which starts with the user
    )
    type = models.CharField(max_length=40, choices=EventType.choices)
    created_at = models.DateTimeField()
    data = models.JSONField()

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="events_event_user_feed_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=EventType.values), name="events_event_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} for {self.user_id}"
