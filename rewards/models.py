from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from rewards.effects import validate_effects, validate_tool_effects


def clean_empty_effects(instance: "Reward | Tool") -> None:
    """``blank=True`` lets an empty value skip the field's validators: fine for
    ``{}`` (no effects), not for ``[]`` or ``""``, which are no effects object."""
    field = instance._meta.get_field("effects")
    assert isinstance(field, models.Field)  # the models' JSONField, not a relation
    value = instance.effects
    if value in field.empty_values:
        try:
            validate_effects(value)
        except ValidationError as exc:
            raise ValidationError({"effects": exc}) from None


class RewardRule(models.TextChoices):
    STREAK = "streak", "Streak"
    TOTAL_CHECKINS = "total_checkins", "Total check-ins"
    LEVEL = "level", "Level"
    LONGEST_STREAK = "longest_streak", "Longest streak"


class Reward(models.Model):
    """A catalog entry: unlocked once a state value reaches the threshold."""

    Rule = RewardRule

    id = models.SlugField(primary_key=True, max_length=64)
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    rule = models.CharField(max_length=20, choices=RewardRule.choices)
    threshold = models.PositiveIntegerField()
    effects = models.JSONField(default=dict, blank=True, validators=[validate_effects])
    auto_claim = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule", "threshold", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gt=0), name="rewards_reward_threshold_positive"
            ),
            models.CheckConstraint(
                condition=Q(rule__in=RewardRule.values), name="rewards_reward_rule_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        super().clean()
        clean_empty_effects(self)


class UserReward(models.Model):
    """Ownership: a reward unlocked (and maybe claimed) by a user, at most once ever."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="rewards",
        db_index=False,  # served by the (user, reward) unique index
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="owners")
    unlocked_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "reward"],
                name="rewards_userreward_user_reward_unique",
                violation_error_code="already_unlocked",
            ),
            models.CheckConstraint(
                condition=Q(claimed_at__isnull=True) | Q(claimed_at__gte=F("unlocked_at")),
                name="rewards_userreward_claimed_after_unlocked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id} of {self.user_id}"


class Tool(models.Model):
    """A shop item bought with loyalty; using it applies its effects."""

    id = models.SlugField(primary_key=True, max_length=64)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    price = models.IntegerField()
    effects = models.JSONField(default=dict, blank=True, validators=[validate_tool_effects])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="rewards_tool_price_min"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        clean_empty_effects(self)


class InventoryItem(models.Model):
    """How many of a tool a user holds."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="inventory",
        db_index=False,  # served by the (user, tool) unique index
    )
    tool = models.ForeignKey(Tool, on_delete=models.PROTECT, related_name="holders")
    quantity = models.IntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tool"], name="rewards_inventoryitem_user_tool_unique"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="rewards_inventoryitem_quantity_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.tool_id} of {self.user_id}"
