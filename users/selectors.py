"""Reads of accounts."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import connection
from django.utils import timezone

from engagement import rules
from engagement.models import UserState
from engagement.statements import db_user_id
from users.models import User

_ME_SQL = (
    "SELECT u.email, u.display_name, u.timezone, u.date_joined, "
    + ", ".join(f"s.{field}" for field in rules.STATE_FIELDS)
    + ", s.last_checkin_date "
    f"FROM {UserState._meta.db_table} s JOIN {User._meta.db_table} u ON u.id = s.user_id "
    "WHERE s.user_id = %s AND u.is_active"
)


def me_row(*, user_id: uuid.UUID) -> UserState | None:
    """The active user's state with ``.user`` (profile fields only) in one
    written-out query, for GET /me, the most frequent read; None when the
    account is inactive, gone, or has no state row yet."""
    with connection.cursor() as cursor:
        cursor.execute(_ME_SQL, [db_user_id(user_id)])
        found = cursor.fetchone()
    if found is None:
        return None
    email, display_name, tz_name, joined = found[:4]
    numbers = dict(zip(rules.STATE_FIELDS, found[4:-1], strict=True))
    last = found[-1]
    if isinstance(joined, str):  # SQLite: naive UTC text
        joined = timezone.make_aware(dt.datetime.fromisoformat(joined), dt.UTC)
    if isinstance(last, str):
        last = dt.date.fromisoformat(last)
    user = User(id=user_id, email=email, display_name=display_name, timezone=tz_name)
    user.date_joined = joined
    row = UserState(user=user, last_checkin_date=last, **numbers)
    return row
