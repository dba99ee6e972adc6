"""The staff erasure of accounts, an action on the user list.

It asks for a reason (required, kept in the erasure's audit row, so it may not
name the account) and a confirmation on an intermediate page, then calls
``privacy.services.user_erase`` once per selected user: one transaction each,
the same erasure as ``DELETE /api/v1/me``. Which staff member erased is logged
in the admin history of the audit row (the history of the user goes with it).
Django's own delete is off for users: it would take no lock and keep rows
that do not cascade.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from backoffice.admin_actions import MAX_USERS_PER_ACTION
from base.admin_mixins import AdminMixinBase
from base.errors import DomainError
from base.plurals import counted
from privacy.models import Erasure
from privacy.services import REASON_MAX_LENGTH, reason_names_account, user_erase
from users.models import User

ERASE_PERMISSION = "users.delete_user"


class EraseForm(forms.Form):
    prefix = "erase"

    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=(
            "Required. Kept in the audit row after the account is gone: say why (e.g. "
            "'erasure request, support ticket 4711'), never who: no e-mail address, name or id."
        ),
    )
    confirm = forms.BooleanField(
        label="Erase for good",
        help_text="The accounts and every row about them are deleted; this cannot be undone.",
    )

    def __init__(self, *args: Any, users: list[User], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.users = users

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"]
        if any(reason_names_account(reason, user_id=u.pk, email=u.email) for u in self.users):
            raise forms.ValidationError(
                "The reason names an account (its e-mail address or id); it is kept after "
                "the account is gone, so leave that out."
            )
        return reason


@admin.action(description="Erase accounts and all their data…", permissions=["erase"])
def erase_users(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]):
    """First call: the form. Posted back with ``apply``: validate, then one
    erasure per user. An invalid form erases nothing and shows it again."""
    users = list(queryset.order_by("email")[: MAX_USERS_PER_ACTION + 1])
    if len(users) > MAX_USERS_PER_ACTION:
        modeladmin.message_user(
            request,
            f"Select at most {MAX_USERS_PER_ACTION} users for one erasure; nothing was erased.",
            messages.ERROR,
        )
        return None
    if any(u.pk == request.user.pk for u in users):
        modeladmin.message_user(
            request,
            "Your own account cannot be erased here (sign in as another staff member, or use "
            "DELETE /api/v1/me); nothing was erased.",
            messages.ERROR,
        )
        return None
    form = EraseForm(request.POST if "apply" in request.POST else None, users=users)
    if form.is_bound and form.is_valid():
        done, refused, rows = [], [], 0
        for user in users:
            try:
                result = user_erase(
                    user_id=user.pk, now=timezone.now(), reason=form.cleaned_data["reason"]
                )
            except DomainError as exc:
                refused.append(f"{user.email}: {exc.detail}")
                continue
            erasure = Erasure.objects.get(pk=result.erasure_id)
            modeladmin.log_addition(request, erasure, f"Erased an account ({result.total} rows).")
            done.append(user.email)
            rows += result.total
        if done:
            modeladmin.message_user(
                request,
                f"Erased {counted(len(done), 'account')} ({counted(rows, 'row')}): "
                f"{', '.join(done)}.",
            )
        if refused:
            modeladmin.message_user(
                request,
                f"Not erased, {len(refused)}: {'; '.join(refused)}.",
                messages.ERROR,
            )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Erase accounts",
        "opts": modeladmin.model._meta,
        "users": users,
        "form": form,
        "action_name": "erase_users",
        "form_id": "erase-users",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/backoffice/erase_users.html", context)


class EraseActionMixin(AdminMixinBase):
    """For the user admin: :func:`erase_users` for staff holding the
    ``users.delete_user`` permission, instead of Django's delete."""

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ERASE_PERMISSION)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
