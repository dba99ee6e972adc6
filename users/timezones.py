"""IANA time zone names: validation and local dates."""

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> None:
    if name not in known_timezones():
        raise ValidationError(
            "%(value)s is not a known IANA time zone name.",
            code="invalid_timezone",
            params={"value": name},
        )


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(moment: dt.datetime, timezone_name: str) -> dt.date:
    """The calendar date of an aware ``moment`` in the named zone."""
    return moment.astimezone(zone(timezone_name)).date()
