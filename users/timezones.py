"""IANA time zone names: validation and local dates."""

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError

# Every IANA name this process knows (the pinned tzdata package), sorted: the
# choices the API accepts and documents.
TIMEZONE_NAMES: tuple[str, ...] = tuple(sorted(available_timezones()))


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(TIMEZONE_NAMES)


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
