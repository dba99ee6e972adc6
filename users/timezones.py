"""IANA time zone names: validation and local dates.

The names and the rules both come from the pinned ``tzdata`` package, never
from the host's zoneinfo, so every machine accepts the same names, documents
the same enum and computes the same local date.
"""

import datetime as dt
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

# Not places: ``Factory`` is tzdata's placeholder zone ("-00"); the host-only
# ``localtime`` and ``posixrules`` never appear in tzdata's own list.
_NOT_PLACES = frozenset({"Factory"})


def _tzdata_names() -> tuple[str, ...]:
    """Every zone (``Z``) and link (``L``) name in the pinned tzdata's source.

    Links are kept: they are the older spellings that clients still send
    (``UTC``, ``Asia/Calcutta`` from browsers' ``Intl`` API) and resolve to
    the same rules as their zone."""
    source = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text()
    names = set()
    for line in source.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "Z":
            names.add(fields[1])
        elif len(fields) >= 3 and fields[0] == "L":
            names.add(fields[2])
    return tuple(sorted(names - _NOT_PLACES))


# The choices the API accepts and documents, sorted.
TIMEZONE_NAMES: tuple[str, ...] = _tzdata_names()


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
    """The zone's rules from the pinned tzdata package (not the host's files)."""
    path = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with path.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def local_date(moment: dt.datetime, timezone_name: str) -> dt.date:
    """The calendar date of an aware ``moment`` in the named zone."""
    return moment.astimezone(zone(timezone_name)).date()
