"""A user with a row in every place a user's data lives, and a bystander."""

import datetime as dt

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from idempotency.models import IdempotencyKey
from rewards.services import tool_grant
from rewards.tests.factories import RewardFactory, ToolFactory, UserRewardFactory, checkin_days
from users.models import User
from users.tests.factories import UserFactory

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


def fill(user: User, *, staff: User | None = None) -> User:
    """Rows of every kind for ``user``: state, check-ins, ledger, rewards,
    inventory, an idempotency key, a group, a permission, admin history by
    them and about them (and refresh tokens once simplejwt's blacklist app is
    installed)."""
    checkin_days(user, 3)
    tool = ToolFactory()
    tool_grant(user_id=user.pk, tool_id=tool.pk, quantity=2, reason="apology", now=timezone.now())
    UserRewardFactory(user=user, reward=RewardFactory())
    IdempotencyKey.objects.create(
        user=user, key=f"k-{user.pk}", fingerprint="f", status_code=201, created_at=NOW
    )
    group, _ = Group.objects.get_or_create(name="support")
    user.groups.add(group)
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    user_type = ContentType.objects.get_for_model(User)
    LogEntry.objects.create(  # their own action in the admin (they are staff)
        user=user,
        content_type=ContentType.objects.get_for_model(Group),
        object_id=str(group.pk),
        object_repr=group.name,
        action_flag=CHANGE,
        change_message="[]",
    )
    if staff is not None:  # staff acting on their account: the e-mail is in object_repr
        LogEntry.objects.create(
            user=staff,
            content_type=user_type,
            object_id=str(user.pk),
            object_repr=user.email,
            action_flag=CHANGE,
            change_message="Grant loyalty",
        )
    if apps.is_installed("rest_framework_simplejwt.token_blacklist"):
        outstanding = apps.get_model("token_blacklist", "OutstandingToken")
        blacklisted = apps.get_model("token_blacklist", "BlacklistedToken")
        token = outstanding.objects.create(
            user=user, jti=f"jti-{user.pk}", token="x", created_at=NOW, expires_at=NOW
        )
        blacklisted.objects.create(token=token)
    return user


@pytest.fixture
def staff(db) -> User:
    return UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def ann(staff) -> User:
    return fill(UserFactory(email="ann@example.com", display_name="Ann"), staff=staff)


@pytest.fixture
def bystander(staff) -> User:
    return fill(UserFactory(email="bob@example.com"), staff=staff)
