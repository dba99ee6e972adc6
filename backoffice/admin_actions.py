"""Admin actions on the user list that change states: grant loyalty, a tool or
streak freezes, adjust a state, or restore a lost streak. Each asks for its amounts and a required
reason on an intermediate page (which shows the selected users' current values
of what the action changes, and says which numbers are changes), then calls
the service once per selected user
(one transaction each: the state lock, one ledger entry with the reason). A
user the service refuses (a full inventory, nothing left to apply) is
reported and changes nothing; the others go through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from base.admin_mixins import AdminMixinBase
from base.errors import DomainError
from engagement.models import MAX_FREEZES, UserState
from rewards.effects import EFFECT_LIMIT
from rewards.models import Tool
from rewards.services import (
    REASON_MAX_LENGTH,
    TOOL_GRANT_MAX_QUANTITY,
    ChangeResult,
    freezes_grant,
    loyalty_grant,
    state_adjust,
    streak_restore,
    tool_grant,
)
from users.models import User

# One intermediate page lists the users and each gets its own transaction;
# larger batches belong to `manage.py grant` in a loop or a script.
MAX_USERS_PER_ACTION = 100
GRANT_PERMISSION = "engagement.add_ledgerentry"


def reason_field() -> forms.CharField:
    return forms.CharField(
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required. Stored with the ledger entry and in the user's admin history.",
    )


class StateActionForm(forms.Form):
    """Subclasses declare their amounts, then ``reason = reason_field()``, and
    the current values the page shows beside each user (``current``: column
    label and attribute of the user's state, or of the user for ``users``'s
    annotations)."""

    prefix = "grant"
    current: tuple[tuple[str, str], ...] = ()

    @classmethod
    def users(cls, queryset: QuerySet[User]) -> QuerySet[User]:
        """The selected users with what ``current`` reads, in one query."""
        return queryset.select_related("state")

    @classmethod
    def current_values(cls, user: User) -> list[Any]:
        try:
            state: UserState | None = user.state
        except UserState.DoesNotExist:
            state = None
        values = []
        for _label, attribute in cls.current:
            source = user if attribute in vars(user) else state  # an annotation, or the state
            value = getattr(source, attribute) if source is not None else None
            values.append("-" if value is None else value)
        return values

    def apply(self, user: User) -> ChangeResult:
        raise NotImplementedError


class LoyaltyGrantForm(StateActionForm):
    amount = forms.IntegerField(
        label="Loyalty to add",
        min_value=1,
        max_value=EFFECT_LIMIT,
        help_text="Added to each user's current loyalty, exactly (no level bonus).",
    )
    reason = reason_field()

    current = (("loyalty", "loyalty"),)

    def apply(self, user: User) -> ChangeResult:
        data = self.cleaned_data
        return loyalty_grant(
            user_id=user.pk, amount=data["amount"], reason=data["reason"], now=timezone.now()
        )


class FreezesGrantForm(StateActionForm):
    count = forms.IntegerField(
        label="Freezes to add",
        min_value=1,
        max_value=MAX_FREEZES,
        initial=1,
        help_text=(
            f"Added to each user's current freezes, up to the {MAX_FREEZES} a user can hold; "
            "the ledger records what fitted."
        ),
    )
    reason = reason_field()

    current = (("streak freezes", "streak_freezes"),)

    def apply(self, user: User) -> ChangeResult:
        data = self.cleaned_data
        return freezes_grant(
            user_id=user.pk, count=data["count"], reason=data["reason"], now=timezone.now()
        )


class ToolChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Tool) -> str:
        return f"{obj.name} ({obj.pk})" + ("" if obj.active else ", off sale")


class ToolGrantForm(StateActionForm):
    tool = ToolChoiceField(
        queryset=Tool.objects.order_by("price", "id"),
        help_text="Any tool, on sale or not. A new tool needs a free inventory slot.",
    )
    quantity = forms.IntegerField(
        label="Quantity to add",
        min_value=1,
        max_value=TOOL_GRANT_MAX_QUANTITY,
        initial=1,
        help_text="Added to what each user holds of this tool.",
    )
    reason = reason_field()

    current = (("different tools held", "tools_held"),)

    @classmethod
    def users(cls, queryset: QuerySet[User]) -> QuerySet[User]:
        return queryset.annotate(tools_held=Count("inventory", filter=Q(inventory__quantity__gt=0)))

    def apply(self, user: User) -> ChangeResult:
        data = self.cleaned_data
        return tool_grant(
            user_id=user.pk,
            tool_id=data["tool"].pk,
            quantity=data["quantity"],
            reason=data["reason"],
            now=timezone.now(),
        )


def delta_field(label: str, bounds: str) -> forms.IntegerField:
    """A signed change, empty for none (shown as "±0", never a value of its own)."""
    return forms.IntegerField(
        label=f"{label} change (±)",
        min_value=-EFFECT_LIMIT,
        max_value=EFFECT_LIMIT,
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": "±0", "class": "delta"}),
        help_text=f"Signed: +5 adds 5, -5 takes 5 away, empty changes nothing. {bounds}",
    )


class StateAdjustForm(StateActionForm):
    energy = delta_field("Energy", "Stays within 0-100; reaching 100 raises the level.")
    fatigue = delta_field("Fatigue", "Stays within 0-100.")
    loyalty = delta_field("Loyalty", "Never goes below 0.")
    freezes = delta_field("Streak freezes", f"Stays within 0-{MAX_FREEZES}.")
    reason = reason_field()

    current = (
        ("level", "level"),
        ("energy", "energy"),
        ("fatigue", "fatigue"),
        ("loyalty", "loyalty"),
        ("streak freezes", "streak_freezes"),
    )

    DELTAS = ("energy", "fatigue", "loyalty", "freezes")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in self.DELTAS:
            cleaned[name] = cleaned.get(name) or 0
        if not any(cleaned[name] for name in self.DELTAS):
            raise forms.ValidationError("Give at least one non-zero delta.")
        return cleaned

    def apply(self, user: User) -> ChangeResult:
        data = self.cleaned_data
        return state_adjust(
            user_id=user.pk,
            reason=data["reason"],
            now=timezone.now(),
            **{name: data[name] for name in self.DELTAS},
        )


class StreakRestoreForm(StateActionForm):
    """No amount: the restore gives back exactly what the last reset check-in
    lost (``lost + streak``), once per loss, at any time."""

    reason = reason_field()

    current = (
        ("streak", "streak"),
        ("lost streak", "lost_streak"),
        ("streak lost on", "streak_lost_on"),
    )

    def apply(self, user: User) -> ChangeResult:
        return streak_restore(
            user_id=user.pk, reason=self.cleaned_data["reason"], now=timezone.now()
        )


@dataclass(frozen=True)
class StateAction:
    name: str
    title: str
    form_class: type[StateActionForm]


def run_state_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[User],
    action: StateAction,
):
    """First call: the form. Posted back with ``apply``: validate, then one
    service call per user. An invalid form writes nothing and shows it again."""
    form_class = action.form_class
    users = list(form_class.users(queryset).order_by("email")[: MAX_USERS_PER_ACTION + 1])
    if len(users) > MAX_USERS_PER_ACTION:
        modeladmin.message_user(
            request,
            f"Select at most {MAX_USERS_PER_ACTION} users for one action; nothing was changed.",
            messages.ERROR,
        )
        return None
    form = action.form_class(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        done, refused = [], []
        for user in users:
            try:
                result = form.apply(user)
            except DomainError as exc:
                refused.append(f"{user.email}: {exc.detail}")
                continue
            summary = result.describe()
            modeladmin.log_change(
                request, user, f"{action.title}: {summary}. Reason: {form.cleaned_data['reason']}"
            )
            done.append(f"{user.email} ({summary})")
        if done:
            modeladmin.message_user(
                request, f"{action.title} — done for {len(done)}: {'; '.join(done)}."
            )
        if refused:
            modeladmin.message_user(
                request,
                f"{action.title} — refused, nothing changed for {len(refused)}: "
                f"{'; '.join(refused)}.",
                messages.ERROR,
            )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": action.title,
        "opts": modeladmin.model._meta,
        "users": users,
        "current_labels": [label for label, _ in form_class.current],
        "rows": [(user, form_class.current_values(user)) for user in users],
        "form": form,
        "action_name": action.name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/backoffice/state_action.html", context)


def state_action(name: str, title: str, form_class: type[StateActionForm]) -> Callable:
    spec = StateAction(name=name, title=title, form_class=form_class)

    def run(modeladmin, request, queryset):
        return run_state_action(modeladmin, request, queryset, spec)

    run.__name__ = name
    return admin.action(description=f"{title}…", permissions=["grant"])(run)


grant_loyalty = state_action("grant_loyalty", "Grant loyalty", LoyaltyGrantForm)
grant_tool = state_action("grant_tool", "Grant a tool", ToolGrantForm)
grant_freezes = state_action("grant_freezes", "Grant streak freezes", FreezesGrantForm)
adjust_state = state_action("adjust_state", "Adjust state", StateAdjustForm)
restore_streak = state_action("restore_streak", "Restore streak", StreakRestoreForm)

STATE_ACTIONS: tuple[Callable, ...] = (
    grant_loyalty,
    grant_tool,
    grant_freezes,
    adjust_state,
    restore_streak,
)


class StateActionsMixin(AdminMixinBase):
    """For the user admin: the state actions, for staff holding the
    ``engagement.add_ledgerentry`` permission (superusers do)."""

    actions = STATE_ACTIONS

    def has_grant_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(GRANT_PERMISSION)
