"""Counts in messages: ``1 user``, ``2 users`` (commands' summaries)."""

from django.utils.translation import ngettext


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """The number and its noun in the right number, by Django's ``ngettext``;
    ``plural`` defaults to ``singular + "s"`` (give it for ``entry/entries``)."""
    return f"{n} {ngettext(singular, plural or singular + 's', n)}"
