"""Users in the admin: searchable by e-mail; the user's page shows their state
(read-only) and the newest rows of their check-ins, rewards, inventory and
ledger. States change only through the actions on the user list, which call
the grant services (locked, through the rules, in the ledger with a reason);
accounts are deleted only by the erase action (``privacy``, with a reason).

This page composes every app's per-user view (their inlines and the state
table), so it lives here, above the apps, rather than in ``users``.

The task queue's results (``django_tasks_db``'s own admin, read-only) get the
big tables' capped count: finished tasks stay until pruned."""

import uuid

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from backoffice.admin_actions import STATE_ACTIONS, StateActionsMixin
from backoffice.erase_action import EraseActionMixin, erase_users
from base.admin_mixins import COMPACT_CSS, BigTableAdminMixin
from checkins.admin import CheckInInline
from engagement.admin import LedgerInline, state_table
from engagement.models import UserState
from rewards.admin import InventoryInline, UserRewardInline
from users.models import User
from users.services import user_deactivate, user_logout_all


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


# Per-user tables of the user's page, with the admin list that holds all of them.
HISTORY_LISTS = (
    ("check-ins", "admin:checkins_checkin_changelist"),
    ("ledger", "admin:engagement_ledgerentry_changelist"),
    ("rewards", "admin:rewards_userreward_changelist"),
    ("inventory", "admin:rewards_inventoryitem_changelist"),
)


@admin.register(User)
class UserAdmin(StateActionsMixin, EraseActionMixin, BigTableAdminMixin, DjangoUserAdmin):
    form = UserEditForm
    actions = (*STATE_ACTIONS, erase_users)
    add_form = UserCreationForm
    ordering = ("email",)  # the unique index on email
    # The state's columns come with the users in the page's one query (a join on
    # the state's primary key); they are not sortable: no index orders users by them.
    # Narrow enough for a 1280 px window with both sidebars open: the display
    # name, time zone and staff status are on the user's page (staff is also a
    # filter); dates are ISO dates.
    list_display = ("email", "level", "streak", "loyalty", "last_checkin", "active", "joined")
    list_select_related = ("state",)
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email",)
    search_help_text = "Part of an e-mail address."
    list_per_page = 100
    readonly_fields = (
        "id",
        "date_joined",
        "last_login",
        "timezone_changed_at",
        "engagement_state",
        "history_links",
    )
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("display_name", "timezone", "timezone_changed_at")}),
        (
            "State",
            {
                "fields": ("engagement_state", "history_links"),
                "description": (
                    "Read-only. To change it, select the user on the user list and use an "
                    "action (grant loyalty, a tool or freezes, adjust state) with a reason."
                ),
            },
        ),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        (
            "Groups and permissions",
            {"classes": ("collapse",), "fields": ("groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = (CheckInInline, UserRewardInline, InventoryInline, LedgerInline)

    class Media:
        css = {"all": (COMPACT_CSS,)}

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        """Staff deactivating an account revoke every token issued before, as
        the API's own paths do (so they stay dead if it is activated again)."""
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user_id=obj.pk)

    def user_change_password(self, request, id, form_url=""):
        """Staff setting a password revoke every token issued before, as a
        password change or reset through the API does."""
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user_logout_all(user_id=uuid.UUID(str(id)))
        return response

    @staticmethod
    def _state(user: User) -> UserState | None:
        try:
            return user.state
        except UserState.DoesNotExist:
            return None

    @admin.display(description="level")
    def level(self, user: User):
        state = self._state(user)
        return state.level if state else None

    @admin.display(description="streak")
    def streak(self, user: User):
        state = self._state(user)
        return state.streak if state else None

    @admin.display(description="loyalty")
    def loyalty(self, user: User):
        state = self._state(user)
        return state.loyalty if state else None

    @admin.display(description="last check-in")
    def last_checkin(self, user: User):
        state = self._state(user)
        day = state.last_checkin_date if state else None
        return day.isoformat() if day else None

    @admin.display(description="active", boolean=True, ordering="is_active")
    def active(self, user: User) -> bool:
        return user.is_active

    @admin.display(description="joined", ordering="date_joined")
    def joined(self, user: User) -> str:
        return user.date_joined.date().isoformat()

    @admin.display(description="state")
    def engagement_state(self, user: User):
        try:
            return state_table(user.state)
        except UserState.DoesNotExist:
            return state_table(None)

    @admin.display(description="all rows")
    def history_links(self, user: User):
        return format_html_join(
            " · ",
            '<a href="{}?user={}">{}</a>',
            ((reverse(name), user.pk, label) for label, name in HISTORY_LISTS),
        ) or format_html("")


admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(BigTableAdminMixin, DBTaskResultAdmin):
    pass
