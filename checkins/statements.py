"""The check-in insert, written out once (see engagement/statements.py for why)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import connection

from checkins.models import CheckIn
from engagement.statements import db_user_id

_TABLE = CheckIn._meta.db_table
_INSERT = (
    f"INSERT INTO {_TABLE} (user_id, date, streak, freezes_used, created_at) "
    "VALUES (%s, %s, %s, %s, %s)"
)


def insert_checkin(
    *, user_id: uuid.UUID, date: dt.date, streak: int, freezes_used: int, now: dt.datetime
) -> CheckIn:
    """Insert one check-in; the (user, date) unique constraint raises IntegrityError."""
    ops = connection.ops
    params = [
        db_user_id(user_id),
        ops.adapt_datefield_value(date),
        streak,
        freezes_used,
        ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(_INSERT + " RETURNING id", params)
            checkin_id = cursor.fetchone()[0]
        else:
            cursor.execute(_INSERT, params)
            checkin_id = cursor.lastrowid
    checkin = CheckIn(
        id=checkin_id,
        user_id=user_id,
        date=date,
        streak=streak,
        freezes_used=freezes_used,
        created_at=now,
    )
    checkin._state.adding = False
    return checkin
